package exporter_test

import (
	"oras.land/oras-go/v2/registry/remote/auth"
)

type authCred = auth.Credential

func staticCred(host, user, pw string) auth.CredentialFunc {
	if user == "" {
		return nil
	}
	return auth.StaticCredential(host, auth.Credential{Username: user, Password: pw})
}
