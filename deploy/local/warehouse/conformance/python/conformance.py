"""Snowflake driver conformance, Python (snowflake-connector-python).

Usage: python conformance.py <target.json>
The target file names the endpoint (host, port, protocol, account, database, schema, role?) and the
login (authenticator "oauth" + token, or "snowflake" + user/password), plus casesFile (cases.json).
Prints one JSON object per case, then {"summary": {...}}; exits 1 if any case failed.
"""

import datetime
import decimal
import json
import sys
import traceback
import uuid

import snowflake.connector
from snowflake.connector.constants import FIELD_ID_TO_NAME


def connect(t):
    kw = dict(
        account=t["account"],
        host=t["host"],
        port=t["port"],
        protocol=t["protocol"],
        database=t["database"],
        schema=t["schema"],
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        login_timeout=60,
        # Binds go to the server as bindings (the default pyformat interpolates them client-side).
        paramstyle="qmark",
    )
    if t.get("role"):
        kw["role"] = t["role"]
    if t["authenticator"] == "oauth":
        kw.update(authenticator="oauth", token=t["token"])
    else:
        kw.update(user=t["user"], password=t["password"])
    return snowflake.connector.connect(**kw)


def canonical(v, type_name):
    if v is None:
        return None
    if type_name == "fixed":
        return str(v) if isinstance(v, decimal.Decimal) and v != v.to_integral_value() else int(v)
    if type_name == "date":
        return v.isoformat()
    if type_name == "time":
        return v.strftime("%H:%M:%S")
    if type_name == "timestamp_ntz":
        return v.strftime("%Y-%m-%d %H:%M:%S.") + f"{v.microsecond // 1000:03d}"
    if type_name in ("timestamp_ltz", "timestamp_tz"):
        return round(v.timestamp() * 1000)
    if type_name == "binary":
        return bytes(v).hex()
    if type_name in ("variant", "object", "array"):
        return json.loads(v)
    return v


def case_connect(conn, t, cases):
    cur = conn.cursor()
    cur.execute("SELECT CURRENT_DATABASE() AS DB, CURRENT_SCHEMA() AS SCH")
    row = cur.fetchone()
    assert row == (t["database"], t["schema"]), row


def case_typed_select(conn, t, cases):
    spec = cases["typedSelect"]
    cur = conn.cursor()
    cur.execute(spec["sql"])
    types = {d.name: FIELD_ID_TO_NAME[d.type_code].lower() for d in cur.description}
    assert types == spec["types"], types
    row = cur.fetchone()
    got = {d.name: canonical(row[i], spec["types"][d.name]) for i, d in enumerate(cur.description)}
    expected = dict(spec["expected"])
    offset = expected.pop("TZ_OFFSET_MINUTES")
    assert got == expected, {"got": got, "expected": expected}
    tz = row[[d.name for d in cur.description].index("TZ")]
    assert tz.utcoffset() == datetime.timedelta(minutes=offset), tz.utcoffset()


def case_dml_binds(conn, t, cases):
    table = cases["scratchTable"]
    run_id = f"python-{uuid.uuid4()}"
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} (RUN_ID, ID, LABEL, AMOUNT, FLAG, CREATED_ON) VALUES (?, ?, ?, ?, ?, ?)", (run_id, 1, "one", decimal.Decimal("1.25"), True, datetime.date(2023, 1, 1)))
    assert cur.rowcount == 1, cur.rowcount
    cur.executemany(f"INSERT INTO {table} (RUN_ID, ID, LABEL) VALUES (?, ?, ?)", [(run_id, 2, "two"), (run_id, 3, "three")])
    assert cur.rowcount == 2, cur.rowcount
    cur.execute(f"UPDATE {table} SET LABEL = :1 WHERE RUN_ID = :2 AND ID >= :3", ("many", run_id, 2))
    assert cur.rowcount == 2, cur.rowcount
    cur.execute(f"SELECT ID, LABEL, AMOUNT, FLAG, CREATED_ON FROM {table} WHERE RUN_ID = ? ORDER BY ID", (run_id,))
    rows = cur.fetchall()
    assert rows == [(1, "one", decimal.Decimal("1.25"), True, datetime.date(2023, 1, 1)), (2, "many", None, None, None), (3, "many", None, None, None)], rows
    cur.execute(f"DELETE FROM {table} WHERE RUN_ID = ?", (run_id,))
    assert cur.rowcount == 3, cur.rowcount


def case_denied(conn, t, cases):
    sqls = [cases["deniedSql"]] + ([cases["ungrantedSql"]] if t["kind"] == "warehouse" else [])
    for sql in sqls:
        try:
            conn.cursor().execute(sql)
        except snowflake.connector.errors.ProgrammingError as e:
            assert e.errno == 3001, e.errno
            assert e.sqlstate == "42501", e.sqlstate
            assert e.sfqid, "no query id"
        else:
            raise AssertionError(f"not refused: {sql}")
    cur = conn.cursor()
    cur.execute("SELECT 1 AS ONE")
    assert cur.fetchone() == (1,)


def rows_of(cur):
    """Rows as JSON-comparable lists (the expected rows in the target file are JSON)."""
    return [[int(v) if isinstance(v, decimal.Decimal) and v == v.to_integral_value() else v for v in row] for row in cur.fetchall()]


def case_held(conn, t, cases):
    """A statement held for approval, on a second connection: execute() simply waits (the driver
    polls) while the test approves it, then returns the rows."""
    held = t["gateway"]["held"]
    with connect({**t, "authenticator": "oauth", "token": held["token"]}) as other:
        cur = other.cursor()
        if held.get("queryTag"):
            cur.execute("ALTER SESSION SET QUERY_TAG = '%s'" % held["queryTag"])
        cur.execute(held["sql"])
        rows = rows_of(cur)
    assert rows == held["rows"], rows


def case_masked(conn, t, cases):
    masked = t["gateway"]["masked"]
    cur = conn.cursor()
    cur.execute(masked["sql"])
    rows = rows_of(cur)
    assert rows == masked["rows"], rows


def case_large(conn, t, cases):
    cur = conn.cursor()
    cur.execute(cases["largeSql"])
    n = 0
    last = None
    for row in cur:
        assert last is None or row[0] > last, "rows out of order"
        last = row[0]
        n += 1
    assert n >= cases["largeMinRows"], n
    assert cur.rowcount == n, (cur.rowcount, n)


def main():
    with open(sys.argv[1]) as f:
        t = json.load(f)
    with open(t["casesFile"]) as f:
        cases = json.load(f)
    results = []
    conn = None
    try:
        conn = connect(t)
        results.append({"case": "connect", "status": "pass"})
    except Exception as e:  # noqa: BLE001
        results.append({"case": "connect", "status": "fail", "detail": f"{type(e).__name__}: {e}"})
    for name, fn in [("connect-session", case_connect), ("typed-select", case_typed_select), ("dml-binds", case_dml_binds), ("denied", case_denied), ("large-chunked", case_large)]:
        if conn is None:
            results.append({"case": name, "status": "fail", "detail": "not connected"})
            continue
        try:
            fn(conn, t, cases)
            results.append({"case": name, "status": "pass"})
        except Exception as e:  # noqa: BLE001
            results.append({"case": name, "status": "fail", "detail": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]})
    for name, key, fn in [("held-query", "held", case_held), ("masked-column", "masked", case_masked)]:
        if t["kind"] != "gateway":
            results.append({"case": name, "status": "skip", "detail": "gateway-only case"})
        elif key not in t.get("gateway", {}):
            results.append({"case": name, "status": "skip", "detail": "the target names no statement for it"})
        elif conn is None:
            results.append({"case": name, "status": "fail", "detail": "not connected"})
        else:
            try:
                fn(conn, t, cases)
                results.append({"case": name, "status": "pass"})
            except Exception as e:  # noqa: BLE001
                results.append({"case": name, "status": "fail", "detail": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]})
    if conn is not None:
        conn.close()
    for r in results:
        print(json.dumps(r))
    summary = {s: sum(1 for r in results if r["status"] == s) for s in ("pass", "fail", "skip")}
    print(json.dumps({"summary": summary}))
    sys.exit(1 if summary["fail"] else 0)


if __name__ == "__main__":
    main()
