// JdbcParallel runs queries at once through the Trino JDBC driver, one
// thread and one connection each, in Java's source-file mode:
//
//   java -cp trino-jdbc.jar e2e/clients/JdbcParallel.java jdbc:trino://HOST:PORT < queries
//
// It reads one "tag<TAB>user<TAB>source<TAB>sql" per line from stdin and
// prints, per query, one "tag<TAB>row" line per row (columns joined by
// tabs) or "tag<TAB>ERROR<TAB>message", once every query has ended. The
// driver follows nextUri itself, so every poll goes through the gateway.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcParallel {
    public static void main(String[] args) throws Exception {
        List<String[]> queries = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] f = line.split("\t", 4);
                if (f.length == 4) {
                    queries.add(f);
                }
            }
        }
        List<StringBuilder> outs = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (String[] q : queries) {
            StringBuilder out = new StringBuilder();
            outs.add(out);
            Thread t = new Thread(() -> run(args[0], q, out));
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (StringBuilder out : outs) {
            System.out.print(out);
        }
    }

    static void run(String url, String[] q, StringBuilder out) {
        Properties props = new Properties();
        props.setProperty("user", q[1]);
        props.setProperty("source", q[2]);
        try (Connection conn = DriverManager.getConnection(url, props);
             Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery(q[3])) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder row = new StringBuilder(q[0]);
                for (int i = 1; i <= n; i++) {
                    row.append('\t').append(rs.getString(i));
                }
                out.append(row).append('\n');
            }
        } catch (SQLException e) {
            out.append(q[0]).append("\tERROR\t").append(e.getMessage().replace('\n', ' ')).append('\n');
        }
    }
}
