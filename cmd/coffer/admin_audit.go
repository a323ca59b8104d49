package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
)

func cmdAudit(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "audit", "Works with the audit log: every sign-in, transfer and change, hash-chained and sealed\n"+
		"with the key-encryption key so that removing or altering a record is detected.", []subcommand{
		{"verify", "check the whole chain (exit 0 intact, 1 damaged, 2 cannot check)", auditVerify},
		{"export", "write records as JSON lines, oldest first", auditExport},
		{"list", "show recent records, newest first", auditList},
	}, args)
}

// progressEvery is how many records audit verify checks between progress lines.
const progressEvery = 100_000

func auditVerify(ctx context.Context, e env, args []string) int {
	sp := spec{name: "audit verify", failExit: exitUsage,
		about: "Checks every record of the audit log: its hash, its seal and its link to the record\n" +
			"before it, and that the sealed head names the last record. Exit status: 0 when the log\n" +
			"is intact, 1 when it is damaged (the first bad record is named), 2 when it cannot be\n" +
			"checked (no database, wrong key...). Note the printed head hash elsewhere: a later\n" +
			"verify that shows an older head reveals a rollback of the whole database."}
	return withCore(ctx, e, sp, args, nil, func(s *session, _ []string) int {
		var progress func(int64)
		if isTerminal(e.stderr) {
			var next int64 = progressEvery
			progress = func(n int64) {
				if n >= next {
					fmt.Fprintf(e.stderr, "checked %d records...\n", n)
					next = n - n%progressEvery + progressEvery
				}
			}
		}
		rep, err := s.core.Audit.Verify(ctx, progress)
		if err != nil {
			return s.fail("cannot verify the audit log", err)
		}
		if !rep.OK() {
			fmt.Fprintf(e.stdout, "audit log DAMAGED: %s\n", rep.Problem)
			fmt.Fprintf(e.stdout, "%d records before it are intact. Compare with your exported copies ('coffer audit export') and investigate who had write access to the database.\n", rep.Records)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "audit log intact: %d records, head seq %d hash %s\n", rep.Records, rep.HeadSeq, rep.Head)
		return exitOK
	})
}

func auditExport(ctx context.Context, e env, args []string) int {
	var sinceText, out string
	var since time.Time
	sp := spec{name: "audit export", args: "[--since TIME] [--out FILE]",
		about: "Writes the audit records, oldest first, as JSON lines: to standard output (also with\n" +
			"--out -), or to FILE (written completely under a temporary name, then renamed; mode\n" +
			"0600; a file named - is ./-). Each record carries its hash and the hash before it, so\n" +
			"a copy can be checked later.",
		check: func([]string) (err error) {
			if sinceText != "" {
				since, err = parseTime(sinceText)
			}
			return err
		}}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&sinceText, "since", "", "only records from `TIME` on: a date (2026-01-02, UTC) or an RFC 3339 time")
		fs.StringVar(&out, "out", "", "write to `FILE` instead of standard output (- is standard output)")
	}, func(s *session, _ []string) int {
		if out == "" || out == "-" {
			w := bufio.NewWriter(e.stdout)
			n, err := s.core.Audit.ExportJSON(ctx, w, since)
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				return s.fail("cannot export the audit log", err)
			}
			fmt.Fprintf(e.stderr, "exported %d records\n", n)
			return exitOK
		}
		var n int64
		err := writeFileAtomic(out, func(w io.Writer) (err error) {
			n, err = s.core.Audit.ExportJSON(ctx, w, since)
			return err
		})
		if err != nil {
			return s.fail(fmt.Sprintf("cannot export the audit log to %s", out), err)
		}
		fmt.Fprintf(e.stderr, "exported %d records to %s\n", n, out)
		return exitOK
	})
}

// writeFileAtomic writes path through write: into a 0600 temporary file in the same
// directory, synced, then renamed over path and the directory synced, so that path is
// either the old file or the complete new one.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	if err = write(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		err = d.Sync()
		d.Close()
		if errors.Is(err, os.ErrInvalid) {
			err = nil // some file systems cannot sync a directory
		}
	}
	return err
}

func auditList(ctx context.Context, e env, args []string) int {
	var f db.AuditFilter
	var sinceText string
	var limit int
	sp := spec{name: "audit list", args: "[--user U] [--action A] [--path SUBSTR] [--since TIME] [--limit N]",
		about: "Shows audit records, newest first. The filters combine: --user matches the actor exactly\n" +
			"(the command line acts as local:OSUSER), --action matches exactly (login, file.upload,\n" +
			"user.create, grant.set...), --path matches part of the path.",
		check: func([]string) (err error) {
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("bad --limit %d: use 1 to 1000", limit)
			}
			if sinceText != "" {
				f.Since, err = parseTime(sinceText)
			}
			return err
		}}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.Actor, "user", "", "only records whose actor is `USER`")
		fs.StringVar(&f.Action, "action", "", "only records of `ACTION`")
		fs.StringVar(&f.PathPart, "path", "", "only records whose path contains `SUBSTR`")
		fs.StringVar(&sinceText, "since", "", "only records from `TIME` on: a date (2026-01-02, UTC) or an RFC 3339 time")
		fs.IntVar(&limit, "limit", 50, "show at most `N` records")
	}, func(s *session, _ []string) int {
		recs, err := s.core.Accounts.AuditQuery(ctx, s.actor, f, limit)
		if err != nil {
			return s.fail("cannot read the audit log", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tFROM\tACTION\tPATH\tTARGET\tBYTES\tRESULT\tDETAIL")
		for _, r := range recs {
			bytes := "-"
			if r.Bytes != 0 {
				bytes = formatSize(r.Bytes)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.At.Local().Format(time.DateTime),
				cell(r.Actor), cell(r.Protocol+" "+r.SourceIP), cell(r.Action), cell(r.Path), cell(r.Target),
				bytes, cell(r.Result), cell(r.Detail))
		}
		tw.Flush()
		if len(recs) == limit {
			fmt.Fprintf(e.stderr, "showing the newest %s records: raise --limit or narrow the filters for more\n", strconv.Itoa(limit))
		}
		return exitOK
	})
}

// cell is a table cell of client-chosen text: escaped, and "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}
