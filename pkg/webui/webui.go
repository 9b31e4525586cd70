// Package webui makes the Trino web UI work through the gateway, across
// clusters. A Trino UI login is a token signed by one coordinator: the
// page of a query that runs on another cluster answers 401. So the gateway
// answers the login form itself: it logs the user in to every coordinator
// of the fleet with the same form, keeps the tokens they give in the shared
// store under one gateway cookie (Switchyard-UI), and hands each UI request
// the token of the coordinator it goes to: the owner of the query a page
// shows, the coordinator an infoUri names, or the session's home
// coordinator for the rest (the cluster overview, assets). The query list
// is the fleet's: the gateway joins every coordinator's (QueryList).
package webui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Cookie is the gateway's UI session cookie.
const Cookie = "Switchyard-UI"

// LoginPath is where Trino's login form posts (also under a
// coordinator's prefix, when the login page was served there).
const LoginPath = "/ui/login"

// IsLogin reports whether path is the login form's target.
func IsLogin(path string) bool {
	if _, _, rest, ok := trino.ParseCoordinatorPrefix(path); ok {
		path = rest
	}
	return path == LoginPath
}

// Logins logs in to one coordinator's web UI (coordinator.Client).
type Logins interface {
	UILogin(ctx context.Context, baseURL, username, password string) (string, error)
}

// QueryLists reads one coordinator's web UI query list as a logged-in
// user (coordinator.Client).
type QueryLists interface {
	UIQueries(ctx context.Context, baseURL, token, rawQuery string) ([]json.RawMessage, error)
}

// Options configure a Service.
type Options struct {
	Fleet  func() *fleet.Fleet
	Logins Logins
	// Lists, when set, serves the query list page for the whole fleet
	// (QueryList); without it the home coordinator's list is shown.
	Lists QueryLists
	Store store.Sessions
	// IdleTTL ends a UI session unused this long (default 8h).
	IdleTTL time.Duration
	// StoreTimeout bounds each store call (default 200ms); LoginTimeout a
	// login to one coordinator (default 5s).
	StoreTimeout, LoginTimeout time.Duration
	// ListTimeout bounds the whole query list (default 2s): a coordinator
	// slower than that is left out of it.
	ListTimeout time.Duration
}

// Service keeps web UI sessions. It is safe for concurrent use.
type Service struct{ o Options }

// New returns a Service.
func New(o Options) *Service {
	if o.IdleTTL <= 0 {
		o.IdleTTL = 8 * time.Hour
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 200 * time.Millisecond
	}
	if o.LoginTimeout <= 0 {
		o.LoginTimeout = 5 * time.Second
	}
	if o.ListTimeout <= 0 {
		o.ListTimeout = 2 * time.Second
	}
	return &Service{o: o}
}

// Session is a logged-in UI user.
type Session struct {
	ID   string
	User string
	// Tokens maps a coordinator key (cluster/name) to its UI token.
	Tokens map[string]string
}

// Home is the coordinator that serves the session's pages that name no
// query: the first it holds a token of that is still in the fleet, active
// and up, the default group's clusters first, then by name.
func (s *Session) Home(f *fleet.Fleet, up func(key string) bool) (string, bool) {
	keys := make([]string, 0, len(s.Tokens))
	for k := range s.Tokens {
		keys = append(keys, k)
	}
	inDefault := func(k string) bool {
		cl, _, _ := strings.Cut(k, "/")
		c, ok := f.Cluster(cl)
		return ok && c.Group == f.DefaultGroup
	}
	sort.Slice(keys, func(i, j int) bool {
		if di, dj := inDefault(keys[i]), inDefault(keys[j]); di != dj {
			return di
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		cl, co, _ := strings.Cut(k, "/")
		if c, ok := f.Cluster(cl); ok && c.State == fleet.Active {
			for _, x := range c.Coordinators {
				if x.Name == co && up(k) {
					return k, true
				}
			}
		}
	}
	for _, k := range keys { // none active and up: any it knows
		cl, _, _ := strings.Cut(k, "/")
		if _, ok := f.Cluster(cl); ok {
			return k, true
		}
	}
	return "", false
}

// LoginResult is what a login did.
type LoginResult struct {
	Session Session
	// Failed maps a coordinator that did not log the user in to why.
	Failed map[string]string
}

// ErrNoLogin means that no coordinator logged the user in.
var ErrNoLogin = errors.New("no cluster logged the user in")

// Login logs username in to every coordinator of the fleet at once and
// records the session. It fails only when none logged the user in.
func (s *Service) Login(ctx context.Context, username, password string) (LoginResult, error) {
	f := s.o.Fleet()
	res := LoginResult{Session: Session{ID: newID(), User: username, Tokens: map[string]string{}}, Failed: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range f.Clusters {
		for _, co := range c.Coordinators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lctx, cancel := context.WithTimeout(ctx, s.o.LoginTimeout)
				defer cancel()
				tok, err := s.o.Logins.UILogin(lctx, co.URL, username, password)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res.Failed[co.Key] = coordinator.UILoginError(err)
					return
				}
				res.Session.Tokens[co.Key] = tok
			}()
		}
	}
	wg.Wait()
	if len(res.Session.Tokens) == 0 {
		return res, ErrNoLogin
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.StoreTimeout)
	defer cancel()
	err := s.o.Store.PutSession(sctx, key(res.Session.ID), store.ClientSession{User: username, Tokens: res.Session.Tokens}, s.o.IdleTTL)
	return res, err
}

// QueryListPath is the web UI's query list (its main page reads it).
const QueryListPath = "/ui/api/query"

// ServesQueryList reports whether the Service answers the query list
// itself.
func (s *Service) ServesQueryList() bool { return s.o.Lists != nil }

// QueryList is the web UI's query list for the whole fleet: the list of
// every coordinator the session is logged in to that is still in the fleet
// and up, read at once as the session's user and joined into one JSON
// array, so the list page shows every cluster's queries, as one Trino
// would. A coordinator that fails or does not answer within ListTimeout is
// left out (failed says which and why); ok is false when none answered.
func (s *Service) QueryList(ctx context.Context, sess Session, rawQuery string, up func(key string) bool) (body []byte, failed map[string]string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, s.o.ListTimeout)
	defer cancel()
	type list struct {
		key     string
		entries []json.RawMessage
		err     error
	}
	f := s.o.Fleet()
	var lists []chan list
	for _, c := range f.Clusters {
		for _, co := range c.Coordinators {
			tok, has := sess.Tokens[co.Key]
			if !has || !up(co.Key) {
				continue
			}
			ch := make(chan list, 1)
			lists = append(lists, ch)
			go func() {
				e, err := s.o.Lists.UIQueries(ctx, co.URL, tok, rawQuery)
				ch <- list{key: co.Key, entries: e, err: err}
			}()
		}
	}
	failed = map[string]string{}
	all := []json.RawMessage{}
	for _, ch := range lists { // fleet order: clusters, then coordinators
		l := <-ch
		if l.err != nil {
			failed[l.key] = l.err.Error()
			continue
		}
		ok = true
		all = append(all, l.entries...)
	}
	if !ok {
		return nil, failed, false
	}
	body, err := json.Marshal(all)
	if err != nil { // raw messages that decoded as JSON encode again
		return nil, failed, false
	}
	return body, failed, true
}

// Lookup finds the UI session a request's Cookie header names (restarting
// its idle TTL); ok is false without one, or when it is unknown.
func (s *Service) Lookup(ctx context.Context, cookieHeader string) (Session, bool, error) {
	id := FromCookie(cookieHeader)
	if id == "" {
		return Session{}, false, nil
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.StoreTimeout)
	defer cancel()
	rec, err := s.o.Store.GetSession(sctx, key(id), s.o.IdleTTL)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Session{}, false, nil
	case err != nil:
		return Session{}, false, err
	case len(rec.Tokens) == 0: // logged out
		return Session{}, false, nil
	}
	return Session{ID: id, User: rec.User, Tokens: rec.Tokens}, true, nil
}

// Logout ends the session a Cookie header names: its record is replaced
// by an empty one that expires at once, so a copy of the cookie is worth
// nothing either.
func (s *Service) Logout(ctx context.Context, cookieHeader string) error {
	id := FromCookie(cookieHeader)
	if id == "" {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.StoreTimeout)
	defer cancel()
	return s.o.Store.PutSession(sctx, key(id), store.ClientSession{}, time.Second)
}

// FromCookie reads the gateway's session ID from a Cookie header ("" if
// it carries none that could be one).
func FromCookie(header string) string {
	for _, c := range (&http.Request{Header: http.Header{"Cookie": {header}}}).Cookies() {
		if c.Name == Cookie && trino.ValidSessionID(c.Value) {
			return c.Value
		}
	}
	return ""
}

// SetCookie is the Set-Cookie value that starts a session (or, with id
// "", ends it).
func SetCookie(id string, secure bool) string {
	c := &http.Cookie{Name: Cookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}
	if id == "" {
		c.MaxAge = -1
	}
	return c.String()
}

// TokenCookie is the Cookie header a request to a coordinator carries:
// that coordinator's UI token.
func TokenCookie(token string) string {
	return (&http.Cookie{Name: coordinator.UITokenCookie, Value: token}).String()
}

// RedirectPath is where a login sends the browser: the form's
// redirectPath when it is a path of the UI on this gateway, else /ui/.
func RedirectPath(p string) string {
	if !strings.HasPrefix(p, "/ui/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/ui/"
	}
	return p
}

func key(id string) string { return "u" + id }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
