package main

// TLS on the client side (docs/ARCHITECTURE.md §6): the SDK verifies an
// https:// --node against the system's roots or the CA of --ca, and tells
// a node that speaks only TLS apart (client.ErrTLSOnly); here is what the
// CLI tells the operator to do about each TLS failure.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/govnode/govnode/client"
)

// errTLSOnly is the CLI's words for client.ErrTLSOnly.
var errTLSOnly = errors.New("the node serves TLS only: use an https:// --node (with --ca FILE for a private CA, e.g. tls/ca.crt of the node's home)")

// tlsHint is a line to add to a failed call's error when TLS is the
// likely cause, or "".
func tlsHint(url string, err error) string {
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.Is(err, client.ErrTLSOnly):
		return "" // says it all
	case errors.As(err, &rh) && strings.HasPrefix(url, "https://"):
		return "the node does not speak TLS there: use an http:// --node"
	case errors.As(err, &ua):
		return "the node's certificate is not signed by a trusted CA: give its CA with --ca FILE (e.g. tls/ca.crt of the node's home)"
	case errors.As(err, &hn):
		return "the node's certificate does not name this host: use a name it lists, or regenerate it with that name"
	case errors.As(err, &ci):
		return "the node's certificate is not valid (expired, or not yet valid)"
	}
	return ""
}
