// Package dbx shares a prefix with internal/db but is not inside it.
package dbx

import _ "database/sql" // want `^package github.com/coffer-mft/coffer/internal/dbx imports database/sql: only internal/db may hold SQL$`
