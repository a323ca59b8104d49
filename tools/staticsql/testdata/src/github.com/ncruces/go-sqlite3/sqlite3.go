// Package sqlite3 is a fake of github.com/ncruces/go-sqlite3.
package sqlite3
