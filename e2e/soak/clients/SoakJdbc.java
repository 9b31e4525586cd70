// SoakJdbc is the soak's JDBC worker: one JVM that runs many queries with
// the real Trino JDBC driver, one at a time, in Java's source-file mode:
//
//   java -cp trino-jdbc.jar e2e/soak/clients/SoakJdbc.java jdbc:trino://HOST:PORT USER
//
// stdin: one "id<TAB>sql" per line. stdout, per query, flushed at once:
//   id<TAB>QID<TAB>queryId            (when the driver first sees the ID)
//   id<TAB>OK<TAB>rows<TAB>digest     (sha256 of the sorted rows)
//   id<TAB>ERROR<TAB>code<TAB>message (SQLException error code and message)
// The driver follows nextUri itself, so every poll goes through the gateway.
import io.trino.jdbc.TrinoStatement;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

public class SoakJdbc {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        try (Connection conn = DriverManager.getConnection(args[0], props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
            String line;
            while ((line = in.readLine()) != null) {
                int tab = line.indexOf('\t');
                if (tab < 0) {
                    continue;
                }
                String id = line.substring(0, tab);
                System.out.println(run(conn, id, line.substring(tab + 1)));
                System.out.flush();
            }
        }
    }

    static String run(Connection conn, String id, String sql) {
        AtomicBoolean reported = new AtomicBoolean();
        try (Statement st = conn.createStatement()) {
            st.unwrap(TrinoStatement.class).setProgressMonitor(stats -> {
                if (reported.compareAndSet(false, true)) {
                    System.out.println(id + "\tQID\t" + stats.getQueryId());
                    System.out.flush();
                }
            });
            List<String> rows = new ArrayList<>();
            try (ResultSet rs = st.executeQuery(sql)) {
                int n = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    StringBuilder row = new StringBuilder();
                    for (int i = 1; i <= n; i++) {
                        row.append(i > 1 ? "\u0001" : "").append(rs.getString(i));
                    }
                    rows.add(row.toString());
                }
            }
            Collections.sort(rows);
            MessageDigest h = MessageDigest.getInstance("SHA-256");
            for (String r : rows) {
                h.update(r.getBytes(StandardCharsets.UTF_8));
                h.update((byte) '\n');
            }
            return id + "\tOK\t" + rows.size() + "\t" + HexFormat.of().formatHex(h.digest());
        } catch (SQLException e) {
            String msg = String.valueOf(e.getMessage()).replace('\n', ' ').replace('\t', ' ');
            return id + "\tERROR\t" + e.getErrorCode() + "\t" + msg;
        } catch (Exception e) {
            String msg = (e.getClass().getName() + ": " + e.getMessage()).replace('\n', ' ').replace('\t', ' ');
            return id + "\tERROR\t0\t" + msg;
        }
    }
}
