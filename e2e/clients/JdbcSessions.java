// JdbcSessions runs client sessions in parallel through the Trino JDBC
// driver, one Connection per session, in Java's source-file mode:
//
//   java -cp trino-jdbc.jar e2e/clients/JdbcSessions.java jdbc:trino://HOST:PORT USER SESSIONS < statements
//
// It reads one statement per line from stdin ("{s}" is replaced by the
// session's number) and prints, per statement, "session<TAB>index<TAB>OK"
// or "session<TAB>index<TAB>ERROR<TAB>message". A failed statement ends
// its session.
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

public class JdbcSessions {
    public static void main(String[] args) throws Exception {
        List<String> statements = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (!line.isBlank()) {
                    statements.add(line);
                }
            }
        }
        int n = Integer.parseInt(args[2]);
        List<Thread> threads = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            final int session = s;
            Thread t = new Thread(() -> run(args[0], args[1], session, statements));
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join(120_000);
        }
    }

    private static void run(String url, String user, int session, List<String> statements) {
        Properties props = new Properties();
        props.setProperty("user", user);
        try (Connection conn = DriverManager.getConnection(url, props)) {
            for (int i = 0; i < statements.size(); i++) {
                String sql = statements.get(i).replace("{s}", Integer.toString(session));
                try (Statement st = conn.createStatement()) {
                    if (st.execute(sql)) {
                        try (ResultSet rs = st.getResultSet()) {
                            while (rs.next()) {
                                // read every row
                            }
                        }
                    }
                    print(session + "\t" + i + "\tOK");
                } catch (SQLException e) {
                    print(session + "\t" + i + "\tERROR\t" + String.valueOf(e.getMessage()).replace('\n', ' '));
                    return;
                }
            }
        } catch (SQLException e) {
            print(session + "\t-1\tERROR\t" + String.valueOf(e.getMessage()).replace('\n', ' '));
        }
    }

    private static synchronized void print(String line) {
        System.out.println(line);
    }
}
