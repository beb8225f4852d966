package scanner

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapping error
// names the variable or parameter that caused them.
var (
	// ErrProtocol means BuildKit's variables are missing or malformed:
	// the scanner was not run by BuildKit's SBOM protocol.
	ErrProtocol = errors.New("not run by BuildKit's SBOM scanner protocol")
	// ErrUnknownParam means an attest:sbom parameter is not one the
	// scanner knows.
	ErrUnknownParam = errors.New("unknown scanner parameter")
	// ErrUnsupportedParam means a parameter of another scanner that this
	// one cannot honour.
	ErrUnsupportedParam = errors.New("unsupported scanner parameter")
	// ErrInvalidParam means a parameter's value is malformed.
	ErrInvalidParam = errors.New("invalid scanner parameter value")
	// ErrUnscannable means a target cannot be scanned faithfully where it
	// is: its SBOM would leave out what it holds.
	ErrUnscannable = errors.New("root filesystem cannot be scanned here")
	// ErrTooLarge means a statement is larger than BuildKit reads.
	ErrTooLarge = errors.New("statement too large for BuildKit")
)
