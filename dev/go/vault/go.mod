// Builds the Vault server that the dev stack runs as a dev-mode server.
// OpenBao is not served by the module proxy here, so this is HashiCorp Vault.
// Vault's own go.mod replaces its api and sdk submodules with its source tree;
// a replace does not carry over to a module that requires Vault, so the
// published api/sdk versions Vault's go.mod names are required here instead.
module storefleet.io/dev/vault

go 1.26.0

require (
	github.com/hashicorp/vault v1.21.4
	github.com/hashicorp/vault/api v1.22.0
	github.com/hashicorp/vault/api/auth/approle v0.1.0
	github.com/hashicorp/vault/api/auth/kubernetes v0.10.0
	github.com/hashicorp/vault/api/auth/userpass v0.1.0
	github.com/hashicorp/vault/sdk v0.21.0
)

// Copied from Vault's go.mod: replaces also do not carry over, and these fix
// zombie dbus-daemon processes and a renamed module.
replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
