// Package fake stands for the analyzer's own testdata, which is exempt from
// the import rule.
package fake

import _ "database/sql"
