package keycloaktest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/keycloak/keycloaktest"
)

func realm() keycloaktest.Realm {
	return keycloaktest.Realm{
		ClientSecret: "s3cr:t/+&=",
		Users: []keycloaktest.User{{
			Username: "Alice", Email: "Alice@Example.com", EmailVerified: true, FirstName: "Alice",
			Groups:      []string{"/teams/engineering/approvers", "/teams/engineering"},
			RealmRoles:  []string{"approver"},
			ClientRoles: map[string][]string{"orchestrator-api": {"viewer"}},
		}},
	}
}

func postToken(t *testing.T, srv *keycloaktest.Server, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	if basic {
		id, secret := form.Get("client_id"), form.Get("client_secret")
		form = url.Values{"grant_type": form["grant_type"]}
		req, _ := http.NewRequest(http.MethodPost, srv.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return send(t, req)
	}
	resp, err := http.PostForm(srv.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func send(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp.StatusCode, m
}

func accessToken(t *testing.T, srv *keycloaktest.Server) string {
	t.Helper()
	status, body := postToken(t, srv, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
	}, false)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// get calls the admin API and decodes the answer into out.
func get(t *testing.T, srv *keycloaktest.Server, tok, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.AdminURL()+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	return resp.StatusCode
}

func TestTokenEndpoint(t *testing.T) {
	srv := keycloaktest.Start(t, realm())
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}}

	for _, basic := range []bool{false, true} {
		status, body := postToken(t, srv, good, basic)
		if status != http.StatusOK || body["token_type"] != "Bearer" || body["expires_in"] != 300.0 || body["access_token"] == "" {
			t.Fatalf("basic=%v: %d %v, want 200 with a Bearer token living 300s", basic, status, body)
		}
	}
	for name, tc := range map[string]struct {
		mod    func(url.Values)
		status int
		code   string
	}{
		"wrong secret":   {func(v url.Values) { v.Set("client_secret", "nope") }, 401, "unauthorized_client"},
		"unknown client": {func(v url.Values) { v.Set("client_id", "other") }, 401, "unauthorized_client"},
		"no client":      {func(v url.Values) { v.Del("client_id") }, 400, "invalid_client"},
		"password grant": {func(v url.Values) { v.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
	} {
		form := url.Values{}
		for k, v := range good {
			form[k] = slices.Clone(v)
		}
		tc.mod(form)
		if status, body := postToken(t, srv, form, false); status != tc.status || body["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", name, status, body, tc.status, tc.code)
		}
	}
	if n := srv.TokenRequests(); n != 6 {
		t.Fatalf("TokenRequests = %d, want 6", n)
	}
}

func TestAdminNeedsAValidBearerToken(t *testing.T) {
	srv := keycloaktest.Start(t, realm())
	id := keycloaktest.UserID("alice")
	var body map[string]any
	if status := get(t, srv, "", "/users/"+id, &body); status != 401 || body["error"] != "HTTP 401 Unauthorized" {
		t.Fatalf("without a token: %d %v", status, body)
	}
	if status := get(t, srv, "made-up", "/users/"+id, &body); status != 401 {
		t.Fatalf("with a wrong token: %d", status)
	}
	tok := accessToken(t, srv)
	if status := get(t, srv, tok, "/users/"+id, &body); status != 200 {
		t.Fatalf("with a token: %d %v", status, body)
	}
	srv.RevokeTokens()
	if status := get(t, srv, tok, "/users/"+id, &body); status != 401 {
		t.Fatalf("with a revoked token: %d", status)
	}

	short := realm()
	short.TokenLifetime = time.Millisecond
	srv = keycloaktest.Start(t, short)
	tok = accessToken(t, srv)
	time.Sleep(5 * time.Millisecond)
	if status := get(t, srv, tok, "/users/"+id, &body); status != 401 {
		t.Fatalf("with an expired token: %d", status)
	}
}

func TestAdminNeedsTheServiceAccountsRole(t *testing.T) {
	r := realm()
	r.ServiceAccountRoles = []string{"view-users"}
	srv := keycloaktest.Start(t, r)
	tok := accessToken(t, srv)
	var body any
	if status := get(t, srv, tok, "/clients?clientId=orchestrator-api", &body); status != 403 {
		t.Fatalf("clients without query-clients: %d %v", status, body)
	}
	if status := get(t, srv, tok, "/users", &body); status != 200 {
		t.Fatalf("users with view-users: %d %v", status, body)
	}
}

func TestRepresentations(t *testing.T) {
	srv := keycloaktest.Start(t, realm())
	tok := accessToken(t, srv)
	id := keycloaktest.UserID("alice")

	var user map[string]any
	if status := get(t, srv, tok, "/users/"+id, &user); status != 200 {
		t.Fatal(status)
	}
	// Keycloak stores username and email in lower case and omits nulls.
	if user["id"] != id || user["username"] != "alice" || user["email"] != "alice@example.com" ||
		user["emailVerified"] != true || user["enabled"] != true || user["firstName"] != "Alice" || user["access"] == nil {
		t.Fatalf("user = %v", user)
	}
	if _, ok := user["lastName"]; ok {
		t.Fatalf("an empty lastName is sent: %v", user)
	}

	var notFound map[string]any
	if status := get(t, srv, tok, "/users/nobody", &notFound); status != 404 || notFound["error"] != "User not found" {
		t.Fatalf("unknown user: %d %v", status, notFound)
	}

	var users []map[string]any
	get(t, srv, tok, "/users?email=ALICE@EXAMPLE.COM&exact=true&briefRepresentation=true", &users)
	if len(users) != 1 || users[0]["id"] != id || users[0]["access"] != nil {
		t.Fatalf("exact email search = %v, want alice in brief form", users)
	}
	get(t, srv, tok, "/users?email=alice@example.co&exact=true", &users)
	if len(users) != 0 {
		t.Fatalf("exact search matched a prefix: %v", users)
	}

	var groups []map[string]any
	get(t, srv, tok, "/users/"+id+"/groups?briefRepresentation=true&first=0&max=1", &groups)
	if len(groups) != 1 || groups[0]["path"] != "/teams/engineering" || groups[0]["name"] != "engineering" || groups[0]["id"] == "" {
		t.Fatalf("first group page = %v", groups)
	}
	get(t, srv, tok, "/users/"+id+"/groups?first=1&max=1", &groups)
	if len(groups) != 1 || groups[0]["path"] != "/teams/engineering/approvers" || groups[0]["parentId"] == nil {
		t.Fatalf("second group page = %v", groups)
	}

	var roles []map[string]any
	get(t, srv, tok, "/users/"+id+"/role-mappings/realm/composite", &roles)
	if len(roles) != 1 || roles[0]["name"] != "approver" || roles[0]["clientRole"] != false {
		t.Fatalf("realm roles = %v", roles)
	}

	var clients []map[string]any
	get(t, srv, tok, "/clients?clientId=orchestrator-api", &clients)
	if len(clients) != 1 || clients[0]["clientId"] != "orchestrator-api" {
		t.Fatalf("clients = %v", clients)
	}
	internal := clients[0]["id"].(string)
	get(t, srv, tok, "/clients?clientId=orchestrator", &clients)
	if len(clients) != 0 {
		t.Fatalf("clientId matched a prefix without search=true: %v", clients)
	}
	get(t, srv, tok, "/users/"+id+"/role-mappings/clients/"+internal+"/composite", &roles)
	if len(roles) != 1 || roles[0]["name"] != "viewer" || roles[0]["clientRole"] != true || roles[0]["containerId"] != internal {
		t.Fatalf("client roles = %v", roles)
	}
	// The path takes the internal id, not the client id.
	if status := get(t, srv, tok, "/users/"+id+"/role-mappings/clients/orchestrator-api/composite", &notFound); status != 404 {
		t.Fatalf("client roles by client id: %d, want 404", status)
	}
}

func TestFaults(t *testing.T) {
	srv := keycloaktest.Start(t, realm())
	tok := accessToken(t, srv)
	srv.FailAdmin(1, 503)
	var body any
	if status := get(t, srv, tok, "/users", &body); status != 503 {
		t.Fatalf("first call after FailAdmin: %d", status)
	}
	if status := get(t, srv, tok, "/users", &body); status != 200 {
		t.Fatalf("second call: %d", status)
	}
	if got := srv.Requests(); len(got) != 3 || got[1].Status != 503 || got[2].Status != 200 || !got[0].Token {
		t.Fatalf("requests = %+v", got)
	}
}
