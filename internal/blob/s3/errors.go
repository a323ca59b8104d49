package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// fail turns err from the S3 client into an *errs.Error for op that tells an
// operator what is wrong with the store and what to do about it. The client has
// already retried what was worth retrying.
func (s *Store) fail(ctx context.Context, op errs.Op, err error) error {
	// The client stops retrying when ctx ends and may then report the last
	// attempt's failure rather than ctx's.
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.E(op, errs.Canceled, errors.Join(ctx.Err(), err))
	}
	where := fmt.Sprintf("S3 bucket %q at %s", s.cfg.Bucket, s.cfg.endpointName())
	r := minio.ToErrorResponse(err)
	switch {
	case r.StatusCode == http.StatusInsufficientStorage, r.Code == "XMinioStorageFull", r.Code == "QuotaExceeded", r.Code == "StorageFull":
		return errs.E(op, errs.NoSpace, fmt.Errorf("%s is full (%s): free space or raise its quota", where, describe(err)))
	case isDenied(err):
		// Not errs.Unauthenticated: that is the client's fault and front-ends say so.
		return errs.E(op, errs.Unavailable, fmt.Errorf("%s refused coffer's credentials or their access to the bucket (%s): check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY...) and the bucket's permissions", where, describe(err)))
	case r.Code == "NoSuchBucket":
		return errs.E(op, errs.Unavailable, fmt.Errorf("%s does not exist (%s): it was deleted, or --blobs names the wrong bucket", where, describe(err)))
	case r.StatusCode >= 500, r.StatusCode == http.StatusTooManyRequests, r.Code == "SlowDown", r.Code == "RequestTimeout":
		return errs.E(op, errs.Unavailable, fmt.Errorf("%s failed after %d tries (%s)", where, s.cfg.Retries, describe(err)))
	case r.StatusCode == 0 && r.Code == "":
		// Not an answer from S3: the network, DNS, TLS...
		return errs.E(op, errs.Unavailable, fmt.Errorf("cannot reach %s after %d tries (%s): check the endpoint and the network", where, s.cfg.Retries, describe(err)))
	}
	return errs.E(op, fmt.Errorf("%s: %s", where, describe(err)))
}

// failBlob is fail for an operation on the committed blob id, whose absence is
// errs.NotFound.
func (s *Store) failBlob(ctx context.Context, op errs.Op, id blob.ID, err error) error {
	r := minio.ToErrorResponse(err)
	if r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket" && !isDenied(err) {
		if ctx.Err() == nil {
			return errs.E(op, errs.NotFound, "blob "+string(id))
		}
	}
	return s.fail(ctx, op, err)
}

// isDenied reports whether S3 refused the credentials or their use.
func isDenied(err error) bool {
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "AuthorizationHeaderMalformed",
		"XAdminUserNotFound": // versitygw's answer, a 404, to an unknown access key id
		return true
	}
	return r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusUnauthorized
}

// isPreconditionFailed reports whether a conditional write found the key taken (or,
// with AWS, being taken by a concurrent conditional write).
func isPreconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" || r.Code == "ConditionalRequestConflict"
}

// describe is err for people: the S3 status and code with its message, or the
// client's error.
func describe(err error) string {
	r := minio.ToErrorResponse(err)
	if r.StatusCode == 0 && r.Code == "" {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err.Error() // the URL is the store's, named already
		}
		return err.Error()
	}
	msg := fmt.Sprintf("%d %s", r.StatusCode, r.Code)
	if r.Message != "" {
		msg += ": " + r.Message
	}
	return msg
}
