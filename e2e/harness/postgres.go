package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postgres is a PostgreSQL server on loopback with one database and one
// role for an application (Trino Gateway keeps its backends and query
// history there). Authentication is trust on 127.0.0.1; the role still has
// a password so clients are configured as they would be in production.
type Postgres struct {
	*Proc
	Name     string
	Port     int
	Addr     string // 127.0.0.1:port
	DataDir  string
	Database string // "gateway"
	User     string // "gateway", owner of Database, not a superuser
	Password string
	DSN      string // postgres://user:password@127.0.0.1:port/database?sslmode=disable
	JDBCURL  string // jdbc:postgresql://127.0.0.1:port/database
	bin      string
}

// PostgresBinDir finds the newest Debian PostgreSQL server binaries
// (/usr/lib/postgresql/<major>/bin); SWITCHYARD_PG_BIN overrides it.
func PostgresBinDir() (string, error) {
	var dirs []string
	if d := os.Getenv("SWITCHYARD_PG_BIN"); d != "" {
		dirs = []string{d}
	} else {
		dirs, _ = filepath.Glob("/usr/lib/postgresql/*/bin")
		major := func(d string) int {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			return n
		}
		sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	}
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"initdb", "postgres", "psql"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", errors.New("the PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/{initdb,postgres,psql}): run deploy/setup-trino-gateway.sh")
}

// StartPostgres creates a cluster in Dir/name, starts it on a free port and
// creates the database and role "gateway". PostgreSQL refuses to run as
// root, so when the harness runs as root the server runs as the OS user
// "postgres" (which the Debian package creates) on a data directory it owns.
func (e *Env) StartPostgres(ctx context.Context, name string) (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	pg := &Postgres{
		Name: name, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port),
		DataDir: filepath.Join(e.Dir, name), Database: "gateway", User: "gateway", Password: "gateway",
		bin: bin,
	}
	pg.DSN = fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", pg.User, pg.Password, pg.Addr, pg.Database)
	pg.JDBCURL = fmt.Sprintf("jdbc:postgresql://%s/%s", pg.Addr, pg.Database)

	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(pg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pg.DataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
		if err := makeTraversable(e.Dir, pg.DataDir); err != nil {
			return nil, err
		}
	}

	// initdb: trust on loopback (-A covers local and host lines), the
	// superuser is "postgres" whatever the OS user is.
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pg.DataDir, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = pg.DataDir
	if cred != nil {
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb %s: %v\n%s", pg.DataDir, err, out)
	}

	// The Unix socket goes into the data directory (-k) unless the path is
	// too long for a socket address; clients use TCP anyway.
	sockDir := pg.DataDir
	if len(sockDir)+len("/.s.PGSQL.65535") >= 108 {
		sockDir = ""
	}
	args := []string{filepath.Join(bin, "postgres"), "-D", pg.DataDir, "-p", strconv.Itoa(port), "-k", sockDir,
		"-c", "listen_addresses=127.0.0.1"}
	if cred != nil {
		// setpriv execs postgres in place (no process in between, so the
		// harness's signals reach it) and re-arms the parent-death signal
		// that changing the user clears.
		args = append([]string{"setpriv", "--reuid=" + strconv.Itoa(int(cred.Uid)), "--regid=" + strconv.Itoa(int(cred.Gid)),
			"--clear-groups", "--pdeathsig=SIGKILL", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = pg.DataDir
	p, err := e.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	pg.Proc = p
	err = Poll(ctx, name+" to accept queries", 30*time.Second, 100*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("postgres exited:\n%s", p.Tail(20))
		}
		out, err := pg.Psql(ctx, "postgres", "postgres", "SELECT 1")
		if err != nil {
			return err
		}
		if out != "1" {
			return fmt.Errorf("query SELECT 1 returned %q", out)
		}
		return nil
	})
	if err == nil {
		_, err = pg.Psql(ctx, "postgres", "postgres",
			fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pg.User, pg.Password),
			fmt.Sprintf("CREATE DATABASE %s OWNER %s", pg.Database, pg.User))
	}
	if err != nil {
		p.Stop()
		return nil, err
	}
	return pg, nil
}

// Psql runs statements with psql over TCP as user on database and returns
// the unaligned, tuples-only output of the last one, trimmed.
func (pg *Postgres) Psql(ctx context.Context, database, user string, statements ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", user, "-d", database}
	for _, s := range statements {
		args = append(args, "-c", s)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "psql"), args...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=2", "PGPASSWORD="+pg.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %s: %v: %s", strings.Join(statements, "; "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// postgresCredential is nil when not root, else the "postgres" OS user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the OS user \"postgres\", which does not exist (%v): install the postgresql package (deploy/setup-trino-gateway.sh)", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bad uid/gid %q/%q for user postgres", u.Uid, u.Gid)
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		return nil, errors.New("running as root needs setpriv (util-linux) to start PostgreSQL as the user postgres")
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// makeTraversable lets the postgres user reach dataDir: every directory
// above it that others cannot search gets the search bit (o+x, not read).
// Only directories inside the Env's own directory or the temp directory are
// changed (t.TempDir and os.MkdirTemp create 0700 ones); any other is an
// error rather than a silent permission change.
func makeTraversable(envDir, dataDir string) error {
	envDir, _ = filepath.Abs(envDir)
	tmp, _ := filepath.Abs(os.TempDir())
	dataDir, _ = filepath.Abs(dataDir)
	for d := filepath.Dir(dataDir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if !within(d, envDir) && !within(d, tmp) {
				return fmt.Errorf("the postgres user cannot reach %s: directory %s is not searchable by others (mode %v); use a working directory under %s", dataDir, d, st.Mode().Perm(), tmp)
			}
			if err := os.Chmod(d, st.Mode().Perm()|0o001); err != nil {
				return err
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// within reports whether d is base or below it (and not base's own parent).
func within(d, base string) bool {
	if d == base {
		return true
	}
	rel, err := filepath.Rel(base, d)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}
