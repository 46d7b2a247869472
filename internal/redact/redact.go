// Package redact removes passwords from text before it reaches output: help,
// logs, error messages, reports and the error text stored with a feed.
//
// String is the one redaction function. It masks the password of every URL
// with user information (postgres://user:secret@host → postgres://user:xxxxx@host)
// and every password=… setting, in a URL query or a keyword/value DSN
// (host=db password='a b' → host=db password=xxxxx). pgconn error texts,
// which may quote the connection string, go through the same function, as do
// Error (for an error to print) and Handler (for every log record).
package redact

import (
	"context"
	"log/slog"
	"regexp"
)

// Mask replaces a password.
const Mask = "xxxxx"

var (
	// userinfo matches scheme://user:password@ and keeps the user. The
	// password runs to the last @ of the word, so that an unescaped @ in it
	// does not leave its tail behind.
	userinfo = regexp.MustCompile("([A-Za-z][A-Za-z0-9+.\\-]*://[^:@/?#\\s]*):([^\\s'\"`]*)@")
	// setting matches password=… (and sslpassword=…) in a URL query or a
	// keyword/value connection string, quoted or not.
	setting = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&'"]*)`)
)

// String returns s with every password it can recognise replaced by Mask.
func String(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}:"+Mask+"@")
	return setting.ReplaceAllString(s, "${1}"+Mask)
}

// HasPassword reports whether s holds a password String would mask.
func HasPassword(s string) bool {
	return String(s) != s
}

// Error returns err with its text redacted; errors.Is and errors.As still see
// the original chain. It returns nil for nil and err itself when its text
// holds no password.
func Error(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	clean := String(text)
	if clean == text {
		return err
	}
	return &redacted{text: clean, err: err}
}

type redacted struct {
	text string
	err  error
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

// Handler wraps h so that the message and every string or error attribute of
// a record are redacted before h sees them.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		clean.AddAttrs(attr(a))
		return true
	})
	return h.Handler.Handle(ctx, clean)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = attr(a)
	}
	return handler{h.Handler.WithAttrs(clean)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.Handler.WithGroup(name)}
}

// attr redacts one attribute: strings, errors, Stringers and groups.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.Any(a.Key, Error(x))
		case interface{ String() string }:
			if s := x.String(); HasPassword(s) {
				return slog.String(a.Key, String(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
