package portal

import (
	"fmt"

	"rsc.io/qr"
)

// maxQRText bounds what a QR code encodes: a verification link is the
// base URL, a record id (at most exec.MaxIDBytes) and a 64-digit hash.
const maxQRText = 1024

// qrPNG is a PNG QR code of text, at error-correction level M (a printed
// certificate may be worn or stained a little).
func qrPNG(text string) ([]byte, error) {
	if len(text) > maxQRText {
		return nil, fmt.Errorf("qr: %d bytes to encode, limit %d", len(text), maxQRText)
	}
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	c.Scale = 6
	return c.PNG(), nil
}
