//! The `connect` event applied to an admitted upgrade request: the handler may refuse it, or
//! set the user id, roles, groups and subprotocol before the socket opens.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::super::admission::{Admitted, Purpose};
use super::super::session::ClientKind;
use super::{ConnectRequest, Link, Refused, Upstream};
use crate::protocol::Subprotocol;

/// What the connect decided for a socket about to open.
#[derive(Debug)]
pub(crate) struct Opening {
    pub(crate) connection_id: String,
    /// The connection's event handler side; `None` when no handler is configured.
    pub(crate) link: Option<Arc<Link>>,
    /// A subprotocol the handler chose that the service does not speak (a simple client).
    pub(crate) custom_subprotocol: Option<String>,
}

/// Runs `connect` for a new connection (not for a recovery) and applies the reply to
/// `admitted`.
pub(crate) async fn connect(
    upstream: Option<&Arc<Upstream>>,
    admitted: &mut Admitted,
    connection_id: String,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Opening, Refused> {
    let mut opening = Opening {
        connection_id,
        link: None,
        custom_subprotocol: None,
    };
    let Some(upstream) = upstream.filter(|u| u.is_configured()) else {
        return Ok(opening);
    };
    let Purpose::Open { claims, .. } = &mut admitted.purpose else {
        return Ok(opening);
    };
    let request = ConnectRequest::new(claims, query, headers);
    let accepted = upstream
        .connect(
            &admitted.hub,
            &opening.connection_id,
            claims.sub.as_deref(),
            &request,
        )
        .await?;
    let response = accepted.response;
    if let Some(user_id) = response.user_id {
        claims.sub = Some(user_id);
    }
    if let Some(roles) = response.roles {
        claims.roles = roles;
    }
    if let Some(groups) = response.groups.filter(|groups| !groups.is_empty()) {
        claims.groups = groups;
    }
    let user_id = claims.sub.clone();
    if let Some(chosen) = response.subprotocol {
        match Subprotocol::from_name(&chosen) {
            Some(known) => {
                admitted.subprotocol = Some(known);
                admitted.kind = ClientKind::from_subprotocol(Some(known));
            }
            None => {
                admitted.subprotocol = None;
                admitted.kind = ClientKind::Simple;
                opening.custom_subprotocol = Some(chosen);
            }
        }
    }
    let subprotocol = admitted
        .subprotocol
        .map(|s| s.name().to_string())
        .or_else(|| opening.custom_subprotocol.clone());
    opening.link = Some(Link::new(
        upstream.clone(),
        &admitted.hub,
        &opening.connection_id,
        user_id.as_deref(),
        subprotocol.as_deref(),
        accepted.connection_state,
    ));
    Ok(opening)
}
