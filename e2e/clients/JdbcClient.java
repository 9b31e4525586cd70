// JdbcClient runs queries through the Trino JDBC driver (the real
// trino-jdbc jar that deploy/setup.sh installs), in Java's source-file mode:
//
//   java -cp trino-jdbc.jar e2e/clients/JdbcClient.java jdbc:trino://HOST:PORT USER < queries
//
// It reads one "tag<TAB>sql" per line from stdin and prints, per query, one
// "tag<TAB>row" line per row (columns joined by tabs) or "tag<TAB>ERROR<TAB>message".
// The driver follows nextUri itself, so every poll goes through the gateway.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class JdbcClient {
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
                String tag = line.substring(0, tab);
                try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(line.substring(tab + 1))) {
                    int n = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        StringBuilder row = new StringBuilder(tag);
                        for (int i = 1; i <= n; i++) {
                            row.append('\t').append(rs.getString(i));
                        }
                        System.out.println(row);
                    }
                } catch (SQLException e) {
                    System.out.println(tag + "\tERROR\t" + e.getMessage().replace('\n', ' '));
                }
            }
        }
    }
}
