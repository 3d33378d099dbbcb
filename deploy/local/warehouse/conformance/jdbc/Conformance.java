/*
 * Snowflake driver conformance, JDBC (net.snowflake:snowflake-jdbc).
 *
 * Usage: java -cp <snowflake-jdbc.jar>:<classes> Conformance <target.json>
 * The target file is the one the Python script reads (test/conformance/target.ts describeTarget):
 * host, port, protocol, account, database, schema, role?, and the login (authenticator "oauth" +
 * token, or "snowflake" + user/password), plus casesFile (cases.json).
 * Prints one JSON object per case, then {"summary": {...}}; exits 1 if any case failed.
 * Secrets (token, password) travel in connection Properties, never in the URL or the output.
 */
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.snowflake.client.jdbc.SnowflakeSQLException;

public final class Conformance {
  /** Held so the level sticks: the driver logs every login at INFO through java.util.logging. */
  static final Logger DRIVER_LOG = Logger.getLogger("net.snowflake");

  interface Case {
    void run(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws Exception;
  }

  /** JDBC's type names (SnowflakeUtil.getSnowflakeType) → the rowtype names cases.json uses. */
  static final Map<String, String> TYPE_NAMES =
      Map.ofEntries(
          Map.entry("NUMBER", "fixed"),
          Map.entry("INTEGER", "fixed"),
          Map.entry("DOUBLE", "real"),
          Map.entry("FLOAT", "real"),
          Map.entry("VARCHAR", "text"),
          Map.entry("BOOLEAN", "boolean"),
          Map.entry("DATE", "date"),
          Map.entry("TIME", "time"),
          Map.entry("TIMESTAMPNTZ", "timestamp_ntz"),
          Map.entry("TIMESTAMPLTZ", "timestamp_ltz"),
          Map.entry("TIMESTAMPTZ", "timestamp_tz"),
          Map.entry("BINARY", "binary"),
          Map.entry("VARIANT", "variant"),
          Map.entry("OBJECT", "object"),
          Map.entry("ARRAY", "array"));

  static Connection connect(Map<String, Object> t) throws SQLException {
    String url =
        "jdbc:snowflake://" + t.get("host") + ":" + num(t.get("port")) + "/?account=" + t.get("account")
            + ("http".equals(t.get("protocol")) ? "&ssl=off" : "");
    Properties p = new Properties();
    p.put("db", t.get("database"));
    p.put("schema", t.get("schema"));
    if (t.get("role") != null) p.put("role", t.get("role"));
    if ("oauth".equals(t.get("authenticator"))) {
      p.put("authenticator", "oauth");
      p.put("token", t.get("token"));
    } else {
      p.put("user", t.get("user"));
      p.put("password", t.get("password"));
    }
    p.put("loginTimeout", "60");
    p.put("networkTimeout", "120000");
    // Results over plain http are JSON (the server says so); telemetry stays local.
    p.put("JDBC_QUERY_RESULT_FORMAT", "JSON");
    p.put("CLIENT_TELEMETRY_ENABLED", "false");
    p.put("CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED", "false");
    // Otherwise the driver probes cloud metadata endpoints (169.254.169.254, …) at every login.
    p.put("disablePlatformDetection", "true");
    return DriverManager.getConnection(url, p);
  }

  static void caseConnect(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws SQLException {
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT CURRENT_DATABASE() AS DB, CURRENT_SCHEMA() AS SCH")) {
      check(rs.next(), "no row");
      List<Object> got = List.of(rs.getString(1), rs.getString(2));
      check(got.equals(List.of(t.get("database"), t.get("schema"))), got);
      check(!rs.next(), "more than one row");
    }
  }

  @SuppressWarnings("unchecked")
  static void caseTypedSelect(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws Exception {
    Map<String, Object> spec = (Map<String, Object>) cases.get("typedSelect");
    Map<String, Object> types = (Map<String, Object>) spec.get("types");
    Map<String, Object> expected = new LinkedHashMap<>((Map<String, Object>) spec.get("expected"));
    int offsetMinutes = num(expected.remove("TZ_OFFSET_MINUTES")).intValue();
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery((String) spec.get("sql"))) {
      ResultSetMetaData md = rs.getMetaData();
      Map<String, Object> gotTypes = new LinkedHashMap<>();
      for (int i = 1; i <= md.getColumnCount(); i++)
        gotTypes.put(md.getColumnLabel(i), TYPE_NAMES.getOrDefault(md.getColumnTypeName(i), md.getColumnTypeName(i)));
      check(Json.same(gotTypes, types), gotTypes);
      int d = rs.findColumn("D");
      check(md.getScale(d) == 2, "D scale " + md.getScale(d));
      check(rs.next(), "no row");
      Map<String, Object> got = new LinkedHashMap<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        String name = md.getColumnLabel(i);
        got.put(name, canonical(rs, i, (String) types.get(name)));
      }
      check(Json.same(got, expected), Map.of("got", got, "expected", expected));
      // JDBC hands TIMESTAMP_TZ out as a plain Timestamp (an instant); its offset survives in the
      // text form, formatted with the session's TIMESTAMP_*_OUTPUT_FORMAT (… TZHTZM).
      String tz = rs.getString(rs.findColumn("TZ"));
      Matcher m = Pattern.compile("([+-])(\\d{2}):?(\\d{2})$").matcher(tz);
      check(m.find(), "TZ text without an offset: " + tz);
      int minutes = ("-".equals(m.group(1)) ? -1 : 1) * (Integer.parseInt(m.group(2)) * 60 + Integer.parseInt(m.group(3)));
      check(minutes == offsetMinutes, "TZ offset " + minutes + " in " + tz);
    }
  }

  /** A driver value in the canonical form of cases.json. */
  static Object canonical(ResultSet rs, int i, String type) throws Exception {
    Object raw = rs.getObject(i);
    if (raw == null) return null;
    switch (type) {
      case "fixed": {
        BigDecimal d = rs.getBigDecimal(i);
        return d.scale() > 0 && d.stripTrailingZeros().scale() > 0 ? d.toPlainString() : (Object) d.longValueExact();
      }
      case "real":
        return rs.getDouble(i);
      case "boolean":
        return rs.getBoolean(i);
      case "date":
        return rs.getDate(i).toLocalDate().toString();
      case "time":
        // JDBC's Time carries the time of day as milliseconds from midnight UTC, whatever the JVM zone.
        return LocalTime.ofNanoOfDay(Math.floorMod(rs.getTime(i).getTime(), 86_400_000L) * 1_000_000L)
            .format(DateTimeFormatter.ofPattern("HH:mm:ss"));
      case "timestamp_ntz":
        return rs.getTimestamp(i).toLocalDateTime().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS"));
      case "timestamp_ltz":
      case "timestamp_tz":
        return rs.getTimestamp(i).getTime();
      case "binary": {
        StringBuilder sb = new StringBuilder();
        for (byte b : rs.getBytes(i)) sb.append(String.format("%02x", b & 0xff));
        return sb.toString();
      }
      case "variant":
      case "object":
      case "array":
        return Json.parse(rs.getString(i));
      default:
        return rs.getString(i);
    }
  }

  static void caseDmlBinds(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws SQLException {
    String table = (String) cases.get("scratchTable");
    String runId = "jdbc-" + UUID.randomUUID();
    try (PreparedStatement ps =
        conn.prepareStatement("INSERT INTO " + table + " (RUN_ID, ID, LABEL, AMOUNT, FLAG, CREATED_ON) VALUES (?, ?, ?, ?, ?, ?)")) {
      ps.setString(1, runId);
      ps.setInt(2, 1);
      ps.setString(3, "one");
      ps.setBigDecimal(4, new BigDecimal("1.25"));
      ps.setBoolean(5, true);
      ps.setDate(6, java.sql.Date.valueOf("2023-01-01"));
      int n = ps.executeUpdate();
      check(n == 1, "insert count " + n);
    }
    try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + table + " (RUN_ID, ID, LABEL) VALUES (?, ?, ?)")) {
      for (Object[] row : new Object[][] {{2, "two"}, {3, "three"}}) {
        ps.setString(1, runId);
        ps.setInt(2, (Integer) row[0]);
        ps.setString(3, (String) row[1]);
        ps.addBatch();
      }
      int[] counts = ps.executeBatch();
      check(Arrays.stream(counts).sum() == 2, "batch counts " + Arrays.toString(counts));
    }
    try (PreparedStatement ps = conn.prepareStatement("UPDATE " + table + " SET LABEL = :1 WHERE RUN_ID = :2 AND ID >= :3")) {
      ps.setString(1, "many");
      ps.setString(2, runId);
      ps.setInt(3, 2);
      int n = ps.executeUpdate();
      check(n == 2, "update count " + n);
    }
    List<List<Object>> rows = new ArrayList<>();
    try (PreparedStatement ps =
        conn.prepareStatement("SELECT ID, LABEL, AMOUNT, FLAG, CREATED_ON FROM " + table + " WHERE RUN_ID = ? ORDER BY ID")) {
      ps.setString(1, runId);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          List<Object> r = new ArrayList<>();
          r.add(rs.getLong(1));
          r.add(rs.getString(2));
          r.add(rs.getBigDecimal(3) == null ? null : rs.getBigDecimal(3).toPlainString());
          r.add(rs.getObject(4) == null ? null : rs.getBoolean(4));
          r.add(rs.getDate(5) == null ? null : rs.getDate(5).toLocalDate().toString());
          rows.add(r);
        }
      }
    }
    List<List<Object>> want =
        List.of(
            Arrays.asList(1L, "one", "1.25", true, "2023-01-01"),
            Arrays.asList(2L, "many", null, null, null),
            Arrays.asList(3L, "many", null, null, null));
    check(rows.equals(want), rows);
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM " + table + " WHERE RUN_ID = ?")) {
      ps.setString(1, runId);
      int n = ps.executeUpdate();
      check(n == 3, "delete count " + n);
    }
  }

  static void caseDenied(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws SQLException {
    List<String> sqls = new ArrayList<>(List.of((String) cases.get("deniedSql")));
    if ("warehouse".equals(t.get("kind"))) sqls.add((String) cases.get("ungrantedSql"));
    for (String sql : sqls) {
      try (Statement st = conn.createStatement()) {
        st.execute(sql);
        throw new AssertionError("not refused: " + sql);
      } catch (SnowflakeSQLException e) {
        check(e.getErrorCode() == 3001, "error code " + e.getErrorCode());
        check("42501".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
        check(e.getQueryId() != null && !e.getQueryId().isEmpty(), "no query id");
      }
    }
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 1 AS ONE")) {
      check(rs.next() && rs.getInt(1) == 1, "session unusable after a refusal");
    }
  }

  static void caseLarge(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws SQLException {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery((String) cases.get("largeSql"))) {
      long n = 0;
      Long last = null;
      while (rs.next()) {
        long id = rs.getLong(1);
        check(last == null || id > last, "rows out of order at " + n);
        last = id;
        n++;
      }
      long min = num(cases.get("largeMinRows")).longValue();
      check(n >= min, "rows " + n);
    }
  }

  /** Every row of a result, as JSON-comparable lists (numbers compare by value). */
  static List<Object> rowsOf(ResultSet rs) throws SQLException {
    List<Object> rows = new ArrayList<>();
    int n = rs.getMetaData().getColumnCount();
    while (rs.next()) {
      List<Object> r = new ArrayList<>();
      for (int i = 1; i <= n; i++) r.add(rs.getObject(i));
      rows.add(r);
    }
    return rows;
  }

  /**
   * A statement held for approval, on a second connection: executeQuery() simply waits (the driver
   * polls) while the test approves it, then returns the rows.
   */
  @SuppressWarnings("unchecked")
  static void caseHeld(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws SQLException {
    Map<String, Object> held = (Map<String, Object>) ((Map<String, Object>) t.get("gateway")).get("held");
    Map<String, Object> as = new LinkedHashMap<>(t);
    as.put("authenticator", "oauth");
    as.put("token", held.get("token"));
    try (Connection other = connect(as);
        Statement st = other.createStatement()) {
      if (held.get("queryTag") != null) st.execute("ALTER SESSION SET QUERY_TAG = '" + held.get("queryTag") + "'");
      try (ResultSet rs = st.executeQuery((String) held.get("sql"))) {
        List<Object> rows = rowsOf(rs);
        check(Json.same(rows, held.get("rows")), rows);
      }
    }
  }

  @SuppressWarnings("unchecked")
  static void caseMasked(Connection conn, Map<String, Object> t, Map<String, Object> cases) throws SQLException {
    Map<String, Object> masked = (Map<String, Object>) ((Map<String, Object>) t.get("gateway")).get("masked");
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery((String) masked.get("sql"))) {
      List<Object> rows = rowsOf(rs);
      check(Json.same(rows, masked.get("rows")), rows);
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------

  static void check(boolean ok, Object detail) {
    if (!ok) throw new AssertionError(detail instanceof String ? detail : Json.write(detail));
  }

  static BigDecimal num(Object o) {
    return o instanceof BigDecimal ? (BigDecimal) o : new BigDecimal(String.valueOf(o));
  }

  static String describe(Throwable e) {
    String s = e.getClass().getSimpleName() + ": " + e.getMessage();
    if (e instanceof SQLException) s += " [code " + ((SQLException) e).getErrorCode() + ", sqlState " + ((SQLException) e).getSQLState() + "]";
    return s;
  }

  @SuppressWarnings("unchecked")
  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: Conformance <target.json>");
      System.exit(2);
    }
    DRIVER_LOG.setLevel(Level.WARNING);
    System.setProperty("aws.java.v1.disableDeprecationAnnouncement", "true");
    Map<String, Object> t = (Map<String, Object>) Json.parse(Files.readString(Path.of(args[0]), StandardCharsets.UTF_8));
    Map<String, Object> cases = (Map<String, Object>) Json.parse(Files.readString(Path.of((String) t.get("casesFile")), StandardCharsets.UTF_8));
    List<Map<String, Object>> results = new ArrayList<>();
    Connection conn = null;
    try {
      conn = connect(t);
      results.add(result("connect", "pass", null));
    } catch (Exception e) {
      results.add(result("connect", "fail", describe(e)));
    }
    Map<String, Case> all = new LinkedHashMap<>();
    all.put("connect-session", Conformance::caseConnect);
    all.put("typed-select", Conformance::caseTypedSelect);
    all.put("dml-binds", Conformance::caseDmlBinds);
    all.put("denied", Conformance::caseDenied);
    all.put("large-chunked", Conformance::caseLarge);
    for (Map.Entry<String, Case> c : all.entrySet()) {
      if (conn == null) {
        results.add(result(c.getKey(), "fail", "not connected"));
        continue;
      }
      try {
        c.getValue().run(conn, t, cases);
        results.add(result(c.getKey(), "pass", null));
      } catch (Throwable e) {
        Map<String, Object> r = result(c.getKey(), "fail", describe(e));
        StackTraceElement[] st = e.getStackTrace();
        r.put("trace", Arrays.toString(Arrays.copyOf(st, Math.min(st.length, 6))));
        results.add(r);
      }
    }
    Map<String, Object> gateway = t.get("gateway") instanceof Map ? (Map<String, Object>) t.get("gateway") : Map.of();
    Map<String, Map.Entry<String, Case>> gatewayOnly = new LinkedHashMap<>();
    gatewayOnly.put("held-query", Map.entry("held", Conformance::caseHeld));
    gatewayOnly.put("masked-column", Map.entry("masked", Conformance::caseMasked));
    for (Map.Entry<String, Map.Entry<String, Case>> c : gatewayOnly.entrySet()) {
      if (!"gateway".equals(t.get("kind"))) results.add(result(c.getKey(), "skip", "gateway-only case"));
      else if (!gateway.containsKey(c.getValue().getKey())) results.add(result(c.getKey(), "skip", "the target names no statement for it"));
      else if (conn == null) results.add(result(c.getKey(), "fail", "not connected"));
      else {
        try {
          c.getValue().getValue().run(conn, t, cases);
          results.add(result(c.getKey(), "pass", null));
        } catch (Throwable e) {
          results.add(result(c.getKey(), "fail", describe(e)));
        }
      }
    }
    if (conn != null) {
      try {
        conn.close();
      } catch (SQLException e) {
        System.err.println("close: " + describe(e));
      }
    }
    Map<String, Object> summary = new LinkedHashMap<>();
    for (String s : List.of("pass", "fail", "skip")) summary.put(s, results.stream().filter(r -> s.equals(r.get("status"))).count());
    for (Map<String, Object> r : results) System.out.println(Json.write(r));
    System.out.println(Json.write(Map.of("summary", summary)));
    System.out.flush();
    System.exit(((Long) summary.get("fail")) > 0 ? 1 : 0);
  }

  static Map<String, Object> result(String name, String status, String detail) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("case", name);
    r.put("status", status);
    if (detail != null) r.put("detail", detail);
    return r;
  }

  /** Just enough JSON for the target and cases files and the results (no dependency beyond the driver jar). */
  static final class Json {
    private final String s;
    private int i;

    private Json(String s) {
      this.s = s;
    }

    static Object parse(String s) {
      Json p = new Json(s);
      Object v = p.value();
      p.ws();
      if (p.i != s.length()) throw new IllegalArgumentException("trailing JSON at " + p.i);
      return v;
    }

    /** Structural equality; numbers compare by value (1 == 1.0 == 1L). */
    static boolean same(Object a, Object b) {
      if (a == null || b == null) return a == b;
      if (a instanceof Number && b instanceof Number) return num(a).compareTo(num(b)) == 0;
      if (a instanceof Map && b instanceof Map) {
        Map<?, ?> x = (Map<?, ?>) a, y = (Map<?, ?>) b;
        if (!x.keySet().equals(y.keySet())) return false;
        for (Object k : x.keySet()) if (!same(x.get(k), y.get(k))) return false;
        return true;
      }
      if (a instanceof List && b instanceof List) {
        List<?> x = (List<?>) a, y = (List<?>) b;
        if (x.size() != y.size()) return false;
        for (int k = 0; k < x.size(); k++) if (!same(x.get(k), y.get(k))) return false;
        return true;
      }
      return a.equals(b);
    }

    static String write(Object v) {
      if (v == null) return "null";
      if (v instanceof String) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : ((String) v).toCharArray()) {
          if (c == '"' || c == '\\') sb.append('\\').append(c);
          else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
        return sb.append('"').toString();
      }
      if (v instanceof BigDecimal) return ((BigDecimal) v).toPlainString();
      if (v instanceof Number || v instanceof Boolean) return v.toString();
      if (v instanceof Map) {
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
          if (sb.length() > 1) sb.append(", ");
          sb.append(write(String.valueOf(e.getKey()))).append(": ").append(write(e.getValue()));
        }
        return sb.append('}').toString();
      }
      if (v instanceof List) {
        StringBuilder sb = new StringBuilder("[");
        for (Object o : (List<?>) v) sb.append(sb.length() > 1 ? ", " : "").append(write(o));
        return sb.append(']').toString();
      }
      if (v instanceof Timestamp) return write(v.toString());
      return write(v.toString());
    }

    private void ws() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
    }

    private Object value() {
      ws();
      if (i >= s.length()) throw new IllegalArgumentException("unexpected end of JSON");
      char c = s.charAt(i);
      if (c == '{') {
        i++;
        Map<String, Object> m = new LinkedHashMap<>();
        ws();
        if (s.charAt(i) == '}') {
          i++;
          return m;
        }
        while (true) {
          ws();
          String k = string();
          ws();
          expect(':');
          m.put(k, value());
          ws();
          if (s.charAt(i) == ',') i++;
          else {
            expect('}');
            return m;
          }
        }
      }
      if (c == '[') {
        i++;
        List<Object> l = new ArrayList<>();
        ws();
        if (s.charAt(i) == ']') {
          i++;
          return l;
        }
        while (true) {
          l.add(value());
          ws();
          if (s.charAt(i) == ',') i++;
          else {
            expect(']');
            return l;
          }
        }
      }
      if (c == '"') return string();
      if (s.startsWith("true", i)) {
        i += 4;
        return Boolean.TRUE;
      }
      if (s.startsWith("false", i)) {
        i += 5;
        return Boolean.FALSE;
      }
      if (s.startsWith("null", i)) {
        i += 4;
        return null;
      }
      int start = i;
      while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
      if (start == i) throw new IllegalArgumentException("unexpected JSON at " + i);
      return new BigDecimal(s.substring(start, i));
    }

    private void expect(char c) {
      if (i >= s.length() || s.charAt(i) != c) throw new IllegalArgumentException("expected '" + c + "' at " + i);
      i++;
    }

    private String string() {
      expect('"');
      StringBuilder sb = new StringBuilder();
      while (true) {
        char c = s.charAt(i++);
        if (c == '"') return sb.toString();
        if (c != '\\') {
          sb.append(c);
          continue;
        }
        char e = s.charAt(i++);
        switch (e) {
          case 'n': sb.append('\n'); break;
          case 't': sb.append('\t'); break;
          case 'r': sb.append('\r'); break;
          case 'b': sb.append('\b'); break;
          case 'f': sb.append('\f'); break;
          case 'u': sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
          default: sb.append(e);
        }
      }
    }
  }
}
