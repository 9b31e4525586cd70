package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// UITokenCookie is the cookie the Trino web UI keeps its login in.
const UITokenCookie = "Trino-UI-Token"

// ErrUILoginRefused means the coordinator answered the login form without a
// UI token (a wrong password, or a form it does not accept).
var ErrUILoginRefused = errors.New("the coordinator refused the web UI login")

// UILogin posts the web UI's login form (username, password; Trino's own
// form) to a coordinator and returns the UI token it sets. The redirect
// that follows a login is not followed.
func (cl *Client) UILogin(ctx context.Context, baseURL, username, password string) (string, error) {
	c := &call{method: http.MethodPost, base: baseURL, path: "/ui/login"}
	form := url.Values{"username": {username}, "password": {password}, "redirectPath": {"/ui/"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/ui/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", c.errorf("%w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := &http.Client{Transport: cl.o.Transport, Timeout: cl.o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", c.errorf("%w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	for _, ck := range resp.Cookies() {
		if ck.Name == UITokenCookie && ck.Value != "" {
			return ck.Value, nil
		}
	}
	return "", c.errorf("HTTP %d without a %s cookie: %w", resp.StatusCode, UITokenCookie, ErrUILoginRefused)
}

// UILoginError says why a login failed, for the user.
func UILoginError(err error) string {
	if errors.Is(err, ErrUILoginRefused) {
		return "the cluster refused the user name or password"
	}
	return fmt.Sprintf("the cluster did not answer the login (%v)", err)
}

// UIQueries reads a coordinator's web UI query list (GET /ui/api/query,
// with the page's query string, such as state=...) as the user its UI
// token belongs to. The entries (Trino's trimmed BasicQueryInfo) are kept
// as they came, for a caller that merges lists.
func (cl *Client) UIQueries(ctx context.Context, baseURL, token, rawQuery string) ([]json.RawMessage, error) {
	path := "/ui/api/query"
	if rawQuery != "" {
		path += "?" + rawQuery
	}
	c := &call{method: http.MethodGet, base: baseURL, path: path,
		header: http.Header{"Cookie": {(&http.Cookie{Name: UITokenCookie, Value: token}).String()}}}
	var out []json.RawMessage
	if err := cl.getJSON(ctx, c, &out); err != nil {
		return nil, err
	}
	return out, nil
}
