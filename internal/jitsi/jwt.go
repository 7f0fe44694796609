package jitsi

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid,omitempty"`
}

type jwtUser struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Avatar    string `json:"avatar,omitempty"`
	Moderator string `json:"moderator"`
	// Affiliation is what prosody's token_affiliation module reads to make
	// a self-hosted participant a moderator; JaaS reads Moderator.
	Affiliation string `json:"affiliation,omitempty"`
}

type jwtClaims struct {
	Iss     string `json:"iss"`
	Aud     string `json:"aud"`
	Sub     string `json:"sub"`
	Room    string `json:"room"`
	Iat     int64  `json:"iat"`
	Nbf     int64  `json:"nbf"`
	Exp     int64  `json:"exp"`
	Context struct {
		User jwtUser `json:"user"`
	} `json:"context"`
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// token signs the claims for one participant of one room.
func (s *Signer) token(room string, u User, now time.Time) (string, error) {
	c := jwtClaims{
		Aud:  "jitsi",
		Sub:  s.subject,
		Room: room,
		Iat:  now.Unix(),
		Nbf:  now.Add(-notBeforeSkew).Unix(),
		Exp:  now.Add(s.ttl).Unix(),
	}
	c.Context.User = jwtUser{ID: u.ID, Name: u.Name, Email: u.Email, Avatar: u.Avatar, Moderator: boolString(u.Moderator)}

	h := jwtHeader{Typ: "JWT"}
	switch s.mode {
	case modeHS256:
		h.Alg = "HS256"
		c.Iss = s.appID
		c.Context.User.Affiliation = "member"
		if u.Moderator {
			c.Context.User.Affiliation = "owner"
		}
	case modeJaaS:
		h.Alg, h.Kid = "RS256", s.kid
		c.Iss = "chat"
	default:
		return "", errors.New("jitsi: no signing mode")
	}

	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jitsi: encode token header: %w", err)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("jitsi: encode token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)

	var sig []byte
	if s.mode == modeHS256 {
		m := hmac.New(sha256.New, s.secret)
		m.Write([]byte(signingInput))
		sig = m.Sum(nil)
	} else {
		digest := sha256.Sum256([]byte(signingInput))
		if sig, err = rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:]); err != nil {
			return "", fmt.Errorf("jitsi: sign token: %w", err)
		}
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}
