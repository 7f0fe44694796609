package auth

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// The realm file is what makes Keycloak tokens fit this package (audience,
// groups claim, role); these checks keep the two from drifting apart.

type realmFile struct {
	Realm   string `json:"realm"`
	Enabled bool   `json:"enabled"`
	Roles   struct {
		Realm []realmRole `json:"realm"`
	} `json:"roles"`
	Groups  []realmGroup  `json:"groups"`
	Clients []realmClient `json:"clients"`
	Users   []realmUser   `json:"users"`
}

type realmRole struct {
	Name string `json:"name"`
}

type realmGroup struct {
	Name      string       `json:"name"`
	Path      string       `json:"path"`
	SubGroups []realmGroup `json:"subGroups"`
}

type realmClient struct {
	ClientID                  string            `json:"clientId"`
	Enabled                   bool              `json:"enabled"`
	PublicClient              bool              `json:"publicClient"`
	BearerOnly                bool              `json:"bearerOnly"`
	StandardFlowEnabled       bool              `json:"standardFlowEnabled"`
	ImplicitFlowEnabled       bool              `json:"implicitFlowEnabled"`
	DirectAccessGrantsEnabled bool              `json:"directAccessGrantsEnabled"`
	ServiceAccountsEnabled    bool              `json:"serviceAccountsEnabled"`
	Secret                    string            `json:"secret"`
	RedirectURIs              []string          `json:"redirectUris"`
	Attributes                map[string]string `json:"attributes"`
	DefaultClientScopes       []string          `json:"defaultClientScopes"`
	OptionalClientScopes      []string          `json:"optionalClientScopes"`
	ProtocolMappers           []struct {
		Name           string            `json:"name"`
		Protocol       string            `json:"protocol"`
		ProtocolMapper string            `json:"protocolMapper"`
		Config         map[string]string `json:"config"`
	} `json:"protocolMappers"`
}

type realmUser struct {
	Username    string `json:"username"`
	Enabled     bool   `json:"enabled"`
	Email       string `json:"email"`
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	Credentials []struct {
		Type      string `json:"type"`
		Value     string `json:"value"`
		Temporary bool   `json:"temporary"`
	} `json:"credentials"`
	RealmRoles []string `json:"realmRoles"`
	Groups     []string `json:"groups"`
	// A client's service account.
	ServiceAccountClientID string              `json:"serviceAccountClientId"`
	ClientRoles            map[string][]string `json:"clientRoles"`
}

func loadRealm(t *testing.T) realmFile {
	t.Helper()
	data, err := os.ReadFile("../../deploy/keycloak/orchestrator-realm.json")
	if err != nil {
		t.Fatalf("read realm: %v", err)
	}
	// Keycloak has no comment syntax; a made-up key would only be ignored,
	// or fail the import in stricter versions.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("realm is not valid JSON: %v", err)
	}
	for k := range top {
		if strings.HasPrefix(k, "_") {
			t.Errorf("realm has non-Keycloak key %q", k)
		}
	}
	var r realmFile
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("decode realm: %v", err)
	}
	return r
}

func TestRealmFile(t *testing.T) {
	r := loadRealm(t)
	if r.Realm != "orchestrator" || !r.Enabled {
		t.Fatalf("realm = %q enabled=%v", r.Realm, r.Enabled)
	}

	clients := map[string]realmClient{}
	for _, c := range r.Clients {
		clients[c.ClientID] = c
	}

	t.Run("api client", func(t *testing.T) {
		api, ok := clients[testAudience]
		if !ok {
			t.Fatal("client orchestrator-api missing")
		}
		if !api.Enabled || api.PublicClient || !api.BearerOnly {
			t.Errorf("orchestrator-api must be an enabled confidential bearer-only client: %+v", api)
		}
		if api.StandardFlowEnabled || api.ImplicitFlowEnabled || api.DirectAccessGrantsEnabled {
			t.Errorf("orchestrator-api must not log anyone in: %+v", api)
		}
	})

	t.Run("shell app", func(t *testing.T) {
		shell, ok := clients["shell-app"]
		if !ok {
			t.Fatal("client shell-app missing")
		}
		if !shell.Enabled || !shell.PublicClient || shell.BearerOnly || !shell.StandardFlowEnabled || shell.ImplicitFlowEnabled {
			t.Errorf("shell-app must be a public standard-flow client: %+v", shell)
		}
		if !shell.DirectAccessGrantsEnabled {
			t.Error("shell-app needs the password grant for dev and tests")
		}
		if shell.Attributes["pkce.code.challenge.method"] != "S256" {
			t.Errorf("PKCE method = %q, want S256", shell.Attributes["pkce.code.challenge.method"])
		}
		if !slices.Contains(shell.RedirectURIs, "http://localhost:3000/*") {
			t.Errorf("redirect URIs = %q", shell.RedirectURIs)
		}
		for _, scope := range append(slices.Clone(shell.DefaultClientScopes), shell.OptionalClientScopes...) {
			if scope == "microprofile-jwt" {
				t.Error("microprofile-jwt would overwrite the groups claim with roles")
			}
		}
		// Without "basic" Keycloak 25+ leaves sub out of access tokens.
		for _, scope := range []string{"basic", "profile", "email", "roles"} {
			if !slices.Contains(shell.DefaultClientScopes, scope) {
				t.Errorf("default scope %q missing", scope)
			}
		}

		mappers := map[string]map[string]string{}
		for _, m := range shell.ProtocolMappers {
			if m.Protocol != "openid-connect" {
				t.Errorf("mapper %q protocol %q", m.Name, m.Protocol)
			}
			mappers[m.ProtocolMapper] = m.Config
		}
		aud, ok := mappers["oidc-audience-mapper"]
		if !ok {
			t.Fatal("audience mapper missing")
		}
		if aud["included.client.audience"] != testAudience || aud["access.token.claim"] != "true" || aud["id.token.claim"] != "false" {
			t.Errorf("audience mapper config = %v", aud)
		}
		groups, ok := mappers["oidc-group-membership-mapper"]
		if !ok {
			t.Fatal("group membership mapper missing")
		}
		if groups["claim.name"] != "groups" || groups["full.path"] != "true" || groups["access.token.claim"] != "true" {
			t.Errorf("group mapper config = %v", groups)
		}
	})

	t.Run("directory client", func(t *testing.T) {
		d, ok := clients["orchestrator-directory"]
		if !ok {
			t.Fatal("client orchestrator-directory missing")
		}
		if !d.Enabled || d.PublicClient || d.BearerOnly || !d.ServiceAccountsEnabled {
			t.Errorf("orchestrator-directory must be a confidential client with a service account: %+v", d)
		}
		if d.StandardFlowEnabled || d.ImplicitFlowEnabled || d.DirectAccessGrantsEnabled {
			t.Errorf("orchestrator-directory must not log anyone in: %+v", d)
		}
		if d.Secret != "${KEYCLOAK_DIRECTORY_SECRET}" {
			t.Errorf("the directory secret must come from the environment at import, not the file: %q", d.Secret)
		}
		var sa *realmUser
		for i := range r.Users {
			if r.Users[i].ServiceAccountClientID == "orchestrator-directory" {
				sa = &r.Users[i]
			}
		}
		if sa == nil {
			t.Fatal("the directory client's service account user is missing")
		}
		got := slices.Sorted(slices.Values(sa.ClientRoles["realm-management"]))
		if want := []string{"query-clients", "query-groups", "view-users"}; !slices.Equal(got, want) || len(sa.ClientRoles) != 1 {
			t.Errorf("service account roles = %v, want exactly realm-management %v (read only)", sa.ClientRoles, want)
		}
	})

	t.Run("role", func(t *testing.T) {
		if !slices.Contains(r.Roles.Realm, realmRole{Name: "approver"}) {
			t.Errorf("realm role approver missing: %+v", r.Roles.Realm)
		}
	})

	paths := map[string]bool{}
	var walk func(prefix string, gs []realmGroup)
	walk = func(prefix string, gs []realmGroup) {
		for _, g := range gs {
			path := prefix + "/" + g.Name
			if g.Path != "" && g.Path != path {
				t.Errorf("group %q declares path %q, nesting says %q", g.Name, g.Path, path)
			}
			paths[path] = true
			walk(path, g.SubGroups)
		}
	}
	walk("", r.Groups)
	t.Run("groups", func(t *testing.T) {
		for _, p := range []string{"/teams/support", "/teams/engineering", "/organizations/acme-corp", "/teams/support/approvers", "/teams/engineering/approvers"} {
			if !paths[p] {
				t.Errorf("group %s missing (have %v)", p, paths)
			}
		}
	})

	t.Run("users", func(t *testing.T) {
		want := map[string]struct {
			groups []string
			roles  []string
		}{
			"agent": {groups: []string{"/organizations/acme-corp", "/teams/support"}},
			"ceo":   {groups: []string{"/organizations/acme-corp", "/teams/engineering"}, roles: []string{"approver"}},
			// Approves in engineering only: the per-tenant grant.
			"lead": {groups: []string{"/teams/engineering/approvers", "/teams/support"}},
		}
		users := map[string]realmUser{}
		for _, u := range r.Users {
			users[u.Username] = u
		}
		for name, w := range want {
			u, ok := users[name]
			if !ok {
				t.Errorf("user %s missing", name)
				continue
			}
			if !u.Enabled || u.Email == "" || u.FirstName == "" || u.LastName == "" {
				t.Errorf("user %s incomplete: %+v", name, u)
			}
			if len(u.Credentials) != 1 || u.Credentials[0].Type != "password" || u.Credentials[0].Value != name || u.Credentials[0].Temporary {
				t.Errorf("user %s must have the non-temporary password %q", name, name)
			}
			groups := slices.Sorted(slices.Values(u.Groups))
			if !slices.Equal(groups, w.groups) {
				t.Errorf("user %s groups = %q, want %q", name, groups, w.groups)
			}
			for _, g := range u.Groups {
				if !paths[g] {
					t.Errorf("user %s is in undeclared group %s", name, g)
				}
			}
			if !slices.Equal(u.RealmRoles, w.roles) {
				t.Errorf("user %s realm roles = %q, want %q", name, u.RealmRoles, w.roles)
			}
		}
	})
}
