//! An integrator plane's identities: an operator, a system account, the `INTEGRATORS` account every
//! tenant's user belongs to, and that account's signing key, which the api signs users with.

use std::fmt;

use nkeys::KeyPair;
use serde_json::{Value, json};

use super::jwt::{self, Claims, JwtError};
use super::names;
use crate::Namespace;

/// The user the webhooks service publishes with.
pub const PUBLISHER: &str = "webhooks";

/// A new plane's keys. The operator's and the accounts' seeds sign the server configuration only;
/// the signing key is the api's ([`Issuer`]).
pub struct Plane {
    pub operator: KeyPair,
    pub system: KeyPair,
    pub account: KeyPair,
    pub signing: KeyPair,
}

impl fmt::Debug for Plane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plane")
            .field("operator", &self.operator.public_key())
            .field("account", &self.account.public_key())
            .finish_non_exhaustive()
    }
}

impl Plane {
    pub fn generate() -> Self {
        Self {
            operator: KeyPair::new_operator(),
            system: KeyPair::new_account(),
            account: KeyPair::new_account(),
            signing: KeyPair::new_account(),
        }
    }

    /// The server configuration's accounts part: the operator, the system account and the
    /// integrators' account preloaded into a memory resolver. `disk_bytes` bounds what the
    /// integrators' account stores in JetStream (-1: no bound but the server's).
    pub fn server_config(&self, now: i64, disk_bytes: i64) -> Result<String, JwtError> {
        let operator = jwt::sign(
            &self.operator,
            &Claims {
                subject: self.operator.public_key(),
                name: "joule".into(),
                issued_at: now,
                expires_at: None,
                nats: json!({
                    "type": "operator",
                    "version": 2,
                    "system_account": self.system.public_key(),
                }),
            },
        )?;
        let account = |key: &KeyPair, name: &str, nats: Value| {
            jwt::sign(
                &self.operator,
                &Claims {
                    subject: key.public_key(),
                    name: name.into(),
                    issued_at: now,
                    expires_at: None,
                    nats,
                },
            )
        };
        let system = account(
            &self.system,
            "SYS",
            json!({"type": "account", "version": 2, "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1,
            }}),
        )?;
        let integrators = account(
            &self.account,
            "INTEGRATORS",
            json!({"type": "account", "version": 2,
                "signing_keys": [self.signing.public_key()],
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": 0, "disk_storage": disk_bytes, "streams": -1, "consumer": -1,
                },
                "default_permissions": {"pub": {}, "sub": {}},
            }),
        )?;
        Ok(format!(
            "# The integrator plane (ADR 043): operator mode, accounts preloaded.\n\
             operator: {operator}\n\
             system_account: {sys}\n\
             resolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {system}\n  {acc}: {integrators}\n}}\n",
            sys = self.system.public_key(),
            acc = self.account.public_key(),
        ))
    }

    pub fn issuer(&self) -> Issuer {
        Issuer {
            account: self.account.public_key(),
            signing: std::sync::Arc::new(self.signing.clone()),
        }
    }
}

/// Signs users of the integrators' account with its signing key.
#[derive(Clone)]
pub struct Issuer {
    account: String,
    signing: std::sync::Arc<KeyPair>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// A user JWT with its seed, answered once.
pub struct TenantUser {
    pub public_key: String,
    pub jwt: String,
    /// The `.creds` file (JWT and seed) a client connects with.
    pub creds: String,
}

impl Issuer {
    /// From the account's public key (`A...`) and the signing key's seed (`SA...`).
    pub fn new(account: &str, signing_seed: &str) -> Result<Self, JwtError> {
        let account_key =
            KeyPair::from_public_key(account).map_err(|e| JwtError::Key(e.to_string()))?;
        let signing = KeyPair::from_seed(signing_seed).map_err(|e| JwtError::Key(e.to_string()))?;
        let is_account = |k: &KeyPair| matches!(k.key_pair_type(), nkeys::KeyPairType::Account);
        if !is_account(&account_key) || !is_account(&signing) {
            return Err(JwtError::Key(
                "the account and its signing key are account nkeys (A... and SA...)".into(),
            ));
        }
        Ok(Self {
            account: account.to_owned(),
            signing: std::sync::Arc::new(signing),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// A user that reads `tenant`'s stream and nothing else: it creates, reads, pulls from and
    /// acknowledges consumers of `<NS>_T_<tenant>`, looks the stream up and gets its messages, and
    /// receives replies on `_INBOX_<tenant>` only. It cannot publish events, see another stream or
    /// change its own.
    pub fn tenant_user(
        &self,
        namespace: &Namespace,
        tenant: &str,
        name: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<TenantUser, JwtError> {
        let stream = names::stream(namespace, tenant);
        let publish = vec![
            format!("$JS.API.CONSUMER.*.{stream}"),
            format!("$JS.API.CONSUMER.*.{stream}.>"),
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.>"),
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.STREAM.MSG.GET.{stream}"),
            format!("$JS.ACK.{stream}.>"),
            format!("$JS.FC.{stream}.>"),
        ];
        let subscribe = vec![format!("{}.>", names::inbox_prefix(tenant))];
        self.user(name, publish, subscribe, issued_at, Some(expires_at))
    }

    /// The webhooks service's user: publishes every tenant's subjects and makes their streams.
    pub fn publisher(&self, namespace: &Namespace, issued_at: i64) -> Result<TenantUser, JwtError> {
        let publish = vec![
            namespace.subject("tenant.>"),
            "$JS.API.STREAM.INFO.*".into(),
            "$JS.API.STREAM.CREATE.*".into(),
            "$JS.API.STREAM.UPDATE.*".into(),
        ];
        let subscribe = vec![format!("_INBOX_{PUBLISHER}.>")];
        self.user(PUBLISHER, publish, subscribe, issued_at, None)
    }

    fn user(
        &self,
        name: &str,
        publish: Vec<String>,
        subscribe: Vec<String>,
        issued_at: i64,
        expires_at: Option<i64>,
    ) -> Result<TenantUser, JwtError> {
        let user = KeyPair::new_user();
        let jwt = jwt::sign(
            &self.signing,
            &Claims {
                subject: user.public_key(),
                name: name.into(),
                issued_at,
                expires_at,
                nats: json!({
                    "type": "user",
                    "version": 2,
                    "issuer_account": self.account,
                    "pub": {"allow": publish},
                    "sub": {"allow": subscribe},
                    "subs": -1, "data": -1, "payload": -1,
                }),
            },
        )?;
        let creds = jwt::creds_file(&jwt, &jwt::seed_of(&user)?);
        Ok(TenantUser {
            public_key: user.public_key(),
            jwt,
            creds,
        })
    }
}
