package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
)

// TestSchemasMatchStructs checks that each schema in openapi.json has exactly the JSON
// fields of the Go type the API encodes or decodes, and that the fields it marks
// required are those the type always writes.
func TestSchemasMatchStructs(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		v      any
		output bool // encoded by the server: fields without omitempty are always present
	}{
		"Problem":           {problem{}, true},
		"Entry":             {entry{}, true},
		"Listing":           {listing{}, true},
		"Me":                {meResponse{}, true},
		"MoveRequest":       {moveRequest{}, false},
		"TokenRequest":      {tokenRequest{}, false},
		"Token":             {tokenResponse{}, true},
		"User":              {user{}, true},
		"SSHKey":            {sshKey{}, true},
		"CreateUserRequest": {createUserRequest{}, false},
		"UpdateUserRequest": {updateUserRequest{}, false},
		"Group":             {group{}, true},
		"Folder":            {folder{}, true},
		"Grant":             {grant{}, true},
		"AuditRecord":       {audit.Exported{}, true},
		"ParcelRequest":     {parcelRequest{}, false},
		"Parcel":            {parcelOut{}, true},
		"ParcelFile":        {parcelFile{}, true},
		"ParcelRecipient":   {parcelRecipient{}, true},
		"ParcelDownload":    {parcelDownload{}, true},
		"ParcelLink":        {parcelLink{}, true},
		"ParcelView":        {viewOut{}, true},
		"SendRequest":       {sendRequest{}, false},
		"RecipientRequest":  {recipientRequest{}, false},
		"UnlockRequest":     {unlockRequest{}, false},
		"Ban":               {banJSON{}, true},
		"Alert":             {alertOut{}, true},
		"Canary":            {canaryOut{}, true},
		"CanaryRequest":     {canaryRequest{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			schema, ok := doc.Components.Schemas[name]
			if !ok {
				t.Fatalf("openapi.json has no schema %s", name)
			}
			var fields, always []string
			typ := reflect.TypeOf(tc.v)
			for i := range typ.NumField() {
				tag := typ.Field(i).Tag.Get("json")
				field, opts, _ := strings.Cut(tag, ",")
				if field == "-" || field == "" {
					continue
				}
				fields = append(fields, field)
				if !strings.Contains(opts, "omit") {
					always = append(always, field)
				}
			}
			var documented []string
			for p := range schema.Properties {
				documented = append(documented, p)
			}
			slices.Sort(fields)
			slices.Sort(documented)
			if !slices.Equal(fields, documented) {
				t.Errorf("properties %v, but %s has %v", documented, typ, fields)
			}
			for _, r := range schema.Required {
				if !slices.Contains(fields, r) {
					t.Errorf("required %q is no field of %s", r, typ)
				}
				if tc.output && !slices.Contains(always, r) {
					t.Errorf("required %q is omitted when empty by %s", r, typ)
				}
			}
			if tc.output {
				for _, f := range always {
					if !slices.Contains(schema.Required, f) {
						t.Errorf("%q is always present in %s but not required", f, typ)
					}
				}
			}
		})
	}
}
