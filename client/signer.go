package client

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/clientcert"
)

// Signer is an on-chain identity and its key: it signs transactions
// (Client.Submit) and, with WithIdentity, authenticates calls.
type Signer struct {
	ID  string
	Key crypto.PrivateKey
}

// NewSigner checks id (exec.ValidID) and pairs it with key.
func NewSigner(id string, key crypto.PrivateKey) (*Signer, error) {
	if err := exec.ValidID(id); err != nil {
		return nil, fmt.Errorf("signer %q: %w", id, err)
	}
	if key == nil {
		return nil, fmt.Errorf("signer %s: no key", id)
	}
	return &Signer{ID: id, Key: key}, nil
}

// LoadSigner reads identity id's key from a key file (keystore format, as
// `govnode keys new` writes it), decrypting it with passphrase (ignored
// for an unencrypted file).
func LoadSigner(id, keyFile, passphrase string) (*Signer, error) {
	key, err := keystore.Load(keyFile, passphrase)
	if err != nil {
		return nil, err
	}
	return NewSigner(id, key)
}

// certSource issues a client certificate for each TLS handshake: every
// new connection gets one valid clientcert.DefaultTTL from then.
func (s *Signer) certSource() func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return ClientCertSource(s.Key, s.ID)
}

// ClientCertSource is the GetClientCertificate of a TLS config that
// authenticates as identity id with key (docs/ARCHITECTURE.md §6,
// "Authenticated callers").
func ClientCertSource(key crypto.PrivateKey, id string) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return clientcert.Issue(key, id, time.Now(), clientcert.DefaultTTL)
	}
}
