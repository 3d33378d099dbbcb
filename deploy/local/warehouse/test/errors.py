"""Statement errors through snowflake-connector-python: runs each statement of a plan on one
connection and prints, per statement, one JSON line with what the driver raised (class, errno,
sqlstate, the server's message) or the rows it returned.

Usage: python errors.py <plan.json>
The plan: {"target": <a conformance target, see conformance/python/conformance.py>, "statements": [sql, ...]}
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance", "python"))

import snowflake.connector  # noqa: E402
from conformance import connect  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    conn = connect(plan["target"])
    try:
        cur = conn.cursor()
        for sql in plan["statements"]:
            try:
                cur.execute(sql)
                out = {"sql": sql, "rows": [[None if v is None else str(v) for v in row] for row in cur.fetchall()]}
            except snowflake.connector.errors.Error as e:
                out = {"sql": sql, "error": type(e).__name__, "errno": e.errno, "sqlstate": e.sqlstate, "msg": e.raw_msg, "sfqid": e.sfqid}
            print(json.dumps(out), flush=True)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
