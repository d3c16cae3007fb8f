//! The server side of a WebSocket written by hand, for the benches' load generators: frame
//! headers put straight into a byte buffer, and a handshake that answers with the reliable
//! JSON subprotocol.
#![allow(dead_code)] // each generator uses part of it

use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use wpchat::protocol::JSON_RELIABLE_V1;

/// The text frame opcode.
pub const TEXT: u8 = 0x1;
/// The close frame opcode.
pub const CLOSE: u8 = 0x8;
/// The pong frame opcode.
pub const PONG: u8 = 0xA;

/// The header of one unmasked, final server-to-client frame of `opcode`.
pub fn push_frame_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(len as u8),
        126..=65_535 => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// One unmasked server-to-client text frame.
pub fn push_text_frame(out: &mut Vec<u8>, text: &str) {
    push_frame_header(out, TEXT, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// One complete client frame at the start of `bytes`: (opcode, unmasked payload, bytes used).
pub fn client_frame(bytes: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (len, mut at) = match second & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        len => (len as usize, 2),
    };
    let mask: [u8; 4] = if second & 0x80 != 0 {
        let mask = bytes.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        mask
    } else {
        [0; 4]
    };
    let data = bytes.get(at..at + len)?;
    let payload = data
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Some((first & 0x0f, payload, at + len))
}

/// The handshake callback: the reliable JSON subprotocol, whatever was asked. The error type
/// is tungstenite's, so its size is not ours to choose.
#[allow(clippy::result_large_err)]
pub fn pick_reliable(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let reliable = HeaderValue::from_static(JSON_RELIABLE_V1);
    response
        .headers_mut()
        .insert(SEC_WEBSOCKET_PROTOCOL, reliable);
    Ok(response)
}
