// Package sqlite is a fake of modernc.org/sqlite.
package sqlite

const Fake = 0
