// Package migrations holds the versioned SQL schema, one directory per
// database dialect. Files are named NNNN_description.sql and applied in order
// by internal/store; a file, once released, is never edited.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
