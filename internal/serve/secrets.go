package serve

import (
	"crypto/rand"
	"errors"
	"os"
)

// LoadSecret reads a random secret file of n bytes, creating it (0600) if
// missing.
func LoadSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == n {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := WriteFileSync(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// WriteFileSync writes a file durably with the given mode.
func WriteFileSync(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
