package db

import "testing"

func TestMigrationVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int64
		ok   bool
	}{
		{"0001_core.sql", 1, true},
		{"0006_parcels.sql", 6, true},
		{"0000_zero.sql", 0, false},
		{"6_short.sql", 0, false},
		{"00a6_letters.sql", 0, false},
		{"0006.sql", 0, false},
		{"-001_negative.sql", 0, false},
	} {
		v, err := migrationVersion(tc.name)
		if (err == nil) != tc.ok || v != tc.want {
			t.Errorf("migrationVersion(%q) = %d, %v; want %d, ok %v", tc.name, v, err, tc.want, tc.ok)
		}
	}
}
