package accounts

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/coffer-mft/coffer/internal/errs"
)

// checkEmail validates a user's notification address: "" (none), or one bare address.
func checkEmail(a string) error {
	if a == "" {
		return nil
	}
	addr, err := mail.ParseAddress(a)
	if len(a) > 254 || err != nil || addr.Name != "" || addr.Address != a || strings.ContainsAny(a, "\r\n") {
		return errs.E(errs.Invalid, fmt.Sprintf("%q is not an e-mail address (write it bare: name@example.org, or \"\" for none)", clip(a)))
	}
	return nil
}
