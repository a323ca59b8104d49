// Package notify sends e-mail (docs/notify.md): a retrying outbox in the database, written
// in the transaction of the action it reports, sent over SMTP by a periodic job; and the
// parcel notifications built from embedded templates.
package notify

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Message is one e-mail to one address, in plain text and HTML.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// Bounds of what goes into headers.
const (
	maxAddressBytes = 254
	maxSubjectBytes = 400
)

// Check refuses a message that could not be sent as it is, and every header value that
// could inject a header: a control character (CR and LF above all) in the subject, an
// address that is not one bare address.
func (m Message) Check() error {
	if _, err := CheckAddress(m.To); err != nil {
		return err
	}
	if err := checkHeaderText("subject", m.Subject, maxSubjectBytes); err != nil {
		return err
	}
	if m.Text == "" {
		return errs.E(errs.Invalid, "a mail needs a plain-text body")
	}
	return nil
}

// CheckAddress validates a bare address (name@example.org, no display name) and returns
// its domain.
func CheckAddress(a string) (domain string, err error) {
	if len(a) > maxAddressBytes || strings.ContainsAny(a, "\r\n") {
		return "", errs.E(errs.Invalid, fmt.Sprintf("%q is not an e-mail address", a))
	}
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Name != "" || addr.Address != a {
		return "", errs.E(errs.Invalid, fmt.Sprintf("%q is not an e-mail address (write it bare: name@example.org)", a))
	}
	return strings.ToLower(a[strings.LastIndexByte(a, '@')+1:]), nil
}

// checkHeaderText refuses what must not reach a header: invalid UTF-8, control
// characters (CR, LF, tab and the rest), and text longer than max bytes. Non-ASCII text is
// encoded (RFC 2047) by the mail library.
func checkHeaderText(what, v string, max int) error {
	if len(v) > max {
		return errs.E(errs.Invalid, fmt.Sprintf("the %s is longer than %d bytes", what, max))
	}
	if !utf8.ValidString(v) {
		return errs.E(errs.Invalid, "the "+what+" is not valid UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return errs.E(errs.Invalid, "the "+what+" has control characters (line breaks are refused: they would start a new header)")
		}
	}
	return nil
}

// ParseFrom parses --mail-from: "Name <address>" or a bare address.
func ParseFrom(v string) (*mail.Address, error) {
	if strings.ContainsAny(v, "\r\n") {
		return nil, errs.E(errs.Invalid, "--mail-from has a line break")
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return nil, errs.E(errs.Invalid, fmt.Sprintf("--mail-from %q: %v (write Name <address@example.org> or a bare address)", v, err))
	}
	if _, err := CheckAddress(a.Address); err != nil {
		return nil, errs.E(errs.Invalid, fmt.Sprintf("--mail-from: %v", errs.Detail(err)))
	}
	if err := checkHeaderText("sender name of --mail-from", a.Name, 200); err != nil {
		return nil, err
	}
	return a, nil
}
