# npm run bench (snowflake-suite.ts): cursor.fetch_pandas_all() of one statement with the official
# Python connector, timed from execute to the DataFrame, `runs` times after one warm-up run, in one
# session whose result format is the connector's default or the one named. Prints one JSON line.
# Args: host port account token format(default|JSON|ARROW) runs sql
import json
import sys
import time

import snowflake.connector

host, port, account, token, fmt, runs, sql = sys.argv[1:8]
extra = {} if fmt == "default" else {"session_parameters": {"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": fmt}}
con = snowflake.connector.connect(
    account=account, host=host, port=int(port), protocol="http", authenticator="oauth", token=token,
    database="CLINICAL", schema="PUBLIC", **extra,
)
seconds, rows, dtypes, result_format = [], 0, {}, None
try:
    for i in range(int(runs) + 1):
        started = time.perf_counter()
        cur = con.cursor()
        cur.execute(sql)
        df = cur.fetch_pandas_all()
        if i > 0:
            seconds.append(time.perf_counter() - started)
        rows, dtypes, result_format = len(df), {k: str(v) for k, v in df.dtypes.items()}, cur._query_result_format
finally:
    con.close()
print(json.dumps({"format": result_format, "rows": rows, "dtypes": dtypes, "seconds": seconds}))
