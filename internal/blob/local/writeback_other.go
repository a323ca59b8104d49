//go:build !linux

package local

import "os"

func startWriteback(*os.File, int64, int64) {}
