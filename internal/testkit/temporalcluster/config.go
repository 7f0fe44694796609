package temporalcluster

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ports are the addresses of one cluster, all chosen at run time so that
// several clusters, the dev servers of other test packages and a `make run`
// on 7233 never collide.
type ports struct {
	frontendGRPC, frontendHTTP, frontendMembership int
	historyGRPC, historyMembership                 int
	matchingGRPC, matchingMembership               int
	workerGRPC, workerMembership                   int
	metrics                                        int
}

// Ports are taken below the kernel's ephemeral range (32768-60999 on
// Linux): the server stores each membership port in a SMALLINT column
// (cluster_membership.rpc_port, at most 32767), and a port outside that
// range is never handed to an outgoing connection between the moment it is
// chosen here and the moment the server binds it.
const (
	portLow  = 20000
	portHigh = 32767
)

// freePorts picks n distinct free ports in [portLow, portHigh] at random,
// holding each one open until every one is chosen.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]int, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 2000 {
			return nil, fmt.Errorf("temporalcluster: no %d free ports in %d-%d", n, portLow, portHigh)
		}
		port := portLow + mrand.IntN(portHigh-portLow+1)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		out = append(out, port)
	}
	return out, nil
}

func newPorts() (ports, error) {
	p, err := freePorts(10)
	if err != nil {
		return ports{}, err
	}
	return ports{
		frontendGRPC: p[0], frontendHTTP: p[1], frontendMembership: p[2],
		historyGRPC: p[3], historyMembership: p[4],
		matchingGRPC: p[5], matchingMembership: p[6],
		workerGRPC: p[7], workerMembership: p[8],
		metrics: p[9],
	}, nil
}

// edit is one textual change of the module's pinned config file: old must
// occur exactly n times, so a different server version fails loudly instead
// of running on a port or database nobody chose.
type edit struct {
	old, new string
	n        int
}

func applyEdits(name, s string, edits []edit) (string, error) {
	for _, e := range edits {
		if got := strings.Count(s, e.old); got != e.n {
			return "", fmt.Errorf("temporalcluster: %s: want %d occurrence(s) of %q, found %d (not the config of server %s?)", name, e.n, e.old, got, Version)
		}
		s = strings.ReplaceAll(s, e.old, e.new)
	}
	return s, nil
}

// staticConfig renders the module's config/development-postgres12.yaml for
// one cluster: its databases, every port, the dynamic config file and the
// log level.
func staticConfig(src string, db dbTarget, p ports, dynamicConfigPath, archivalDir, logLevel string) (string, error) {
	q := strconv.Quote
	edits := []edit{
		{`databaseName: "temporal"`, "databaseName: " + q(db.main), 1},
		{`databaseName: "temporal_visibility"`, "databaseName: " + q(db.visibility), 1},
		{`connectAddr: "127.0.0.1:5432"`, "connectAddr: " + q(db.hostPort), 2},
		{`user: "temporal"`, "user: " + q(db.user), 2},
		{`password: "temporal"`, "password: " + q(db.password), 2},
		{"  level: info\n", "  level: " + logLevel + "\n", 1},
		// Port 0 turns the pprof listener off.
		{"port: 7936", "port: 0", 1},
		{`listenAddress: "127.0.0.1:8000"`, "listenAddress: " + q(fmt.Sprintf("127.0.0.1:%d", p.metrics)), 1},
		{"grpcPort: 7233", fmt.Sprintf("grpcPort: %d", p.frontendGRPC), 1},
		{"membershipPort: 6933", fmt.Sprintf("membershipPort: %d", p.frontendMembership), 1},
		{"httpPort: 7243", fmt.Sprintf("httpPort: %d", p.frontendHTTP), 1},
		{"grpcPort: 7235", fmt.Sprintf("grpcPort: %d", p.matchingGRPC), 1},
		{"membershipPort: 6935", fmt.Sprintf("membershipPort: %d", p.matchingMembership), 1},
		{"grpcPort: 7234", fmt.Sprintf("grpcPort: %d", p.historyGRPC), 1},
		{"membershipPort: 6934", fmt.Sprintf("membershipPort: %d", p.historyMembership), 1},
		{"grpcPort: 7239", fmt.Sprintf("grpcPort: %d", p.workerGRPC), 1},
		{"membershipPort: 6939", fmt.Sprintf("membershipPort: %d", p.workerMembership), 1},
		{`rpcAddress: "localhost:7233"`, "rpcAddress: " + q(fmt.Sprintf("127.0.0.1:%d", p.frontendGRPC)), 1},
		{`filepath: "config/dynamicconfig/development-sql.yaml"`, "filepath: " + q(dynamicConfigPath), 1},
		{`URI: "file:///tmp/temporal_archival/development"`, "URI: " + q("file://"+filepath.Join(archivalDir, "history")), 1},
		{`URI: "file:///tmp/temporal_vis_archival/development"`, "URI: " + q("file://"+filepath.Join(archivalDir, "visibility")), 1},
	}
	out, err := applyEdits("config/development-postgres12.yaml", src, edits)
	if err != nil {
		return "", err
	}
	// Nothing of the shipped fixed ports may survive.
	for _, fixed := range []string{"7233", "7234", "7235", "7239", "7243", "6933", "6934", "6935", "6939", "7936", ":8000"} {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(fixed) + `\b`).MatchString(out) {
			return "", fmt.Errorf("temporalcluster: the rendered config still names the fixed port %s", fixed)
		}
	}
	return out, nil
}

// baseDynamicConfig is what every cluster of the kit runs with on top of the
// module's development-sql.yaml.
const baseDynamicConfig = `# Added by internal/temporalcluster.
# Eager activity execution: off by default in server 1.29.
system.enableActivityEagerExecution:
  - value: true
# No call to the internet for a version check.
frontend.enableServerVersionCheck:
  - value: false
`

// dynamicConfig renders the module's config/dynamicconfig/development-sql.yaml
// with the frontend's HTTP port, then merges the kit's base settings and the
// overlays in order: a key set by a later document replaces the earlier
// value as a whole.
func dynamicConfig(src string, p ports, overlays ...string) (string, error) {
	out, err := applyEdits("config/dynamicconfig/development-sql.yaml", src, []edit{
		{"http://localhost:7243/", fmt.Sprintf("http://127.0.0.1:%d/", p.frontendHTTP), 1},
	})
	if err != nil {
		return "", err
	}
	return mergeYAMLBlocks(append([]string{out, baseDynamicConfig}, overlays...)...), nil
}

var topKey = regexp.MustCompile(`^([A-Za-z0-9_.\-]+):`)

// yamlBlock is one top-level key of a dynamic config document with its
// value lines (and any comments that follow it).
type yamlBlock struct {
	key  string
	text string
}

// splitYAMLBlocks cuts a flat dynamic config document (top-level keys only,
// as the server's file format is) into its top-level entries. Lines before
// the first key form a block without a key.
func splitYAMLBlocks(doc string) []yamlBlock {
	var blocks []yamlBlock
	cur := yamlBlock{}
	flush := func() {
		if cur.text != "" {
			blocks = append(blocks, cur)
		}
	}
	for _, line := range strings.SplitAfter(doc, "\n") {
		if m := topKey.FindStringSubmatch(line); m != nil {
			flush()
			cur = yamlBlock{key: m[1]}
		}
		cur.text += line
	}
	flush()
	return blocks
}

// mergeYAMLBlocks joins dynamic config documents; a top-level key in a later
// document replaces the same key of earlier ones.
func mergeYAMLBlocks(docs ...string) string {
	var order []yamlBlock
	index := map[string]int{}
	for _, d := range docs {
		if d != "" && !strings.HasSuffix(d, "\n") {
			d += "\n"
		}
		for _, b := range splitYAMLBlocks(d) {
			if b.key != "" {
				if i, ok := index[b.key]; ok {
					order[i].text = "" // replaced below, at its new place
				}
				index[b.key] = len(order)
			}
			order = append(order, b)
		}
	}
	var sb strings.Builder
	for _, b := range order {
		sb.WriteString(b.text)
	}
	return sb.String()
}

// writeConfig writes <dir>/config/development.yaml and the dynamic config
// next to it, and returns the root the server is started with.
func writeConfig(dir, static, dynamic string) error {
	cfgDir := filepath.Join(dir, "config")
	if err := os.MkdirAll(filepath.Join(cfgDir, "dynamicconfig"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "development.yaml"), []byte(static), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfgDir, "dynamicconfig", "dynamic.yaml"), []byte(dynamic), 0o600)
}
