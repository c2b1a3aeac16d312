//! fanotify events in FID mode, parsed from the bytes read(2) returns.
//!
//! With FAN_REPORT_FID | FAN_REPORT_DFID_NAME an event carries no file
//! descriptor; after the metadata come info records naming the object by file
//! handle and, for directory entry events, the directory's handle and the entry's
//! name. nix's fanotify module opens the group and sets the marks, but does not
//! parse these records, so this does; it trusts no length it reads.

pub const FAN_ATTRIB: u64 = 0x0000_0004;
pub const FAN_MOVED_FROM: u64 = 0x0000_0040;
pub const FAN_MOVED_TO: u64 = 0x0000_0080;
pub const FAN_CREATE: u64 = 0x0000_0100;
pub const FAN_DELETE: u64 = 0x0000_0200;
pub const FAN_Q_OVERFLOW: u64 = 0x0000_4000;

const INFO_FID: u8 = 1;
const INFO_DFID_NAME: u8 = 2;
const INFO_DFID: u8 = 3;
/// struct fanotify_event_metadata.
const METADATA_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FanEvent {
    pub mask: u64,
    /// The process that caused it (0 when the kernel did not say).
    pub pid: i32,
    /// The directory's handle (handle type and bytes), for entry events.
    pub dir: Option<Vec<u8>>,
    /// The entry's name in that directory.
    pub name: Option<Vec<u8>>,
    /// The object's own handle.
    pub object: Option<Vec<u8>>,
}

/// The events in one read(2) buffer. A malformed event ends the parse (what is
/// after it cannot be found); `malformed` says so.
pub fn parse(buf: &[u8]) -> (Vec<FanEvent>, bool) {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let Some(ev) = one(rest) else { return (out, true) };
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        out.push(ev);
        rest = &rest[len..];
    }
    (out, false)
}

fn one(b: &[u8]) -> Option<FanEvent> {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_ne_bytes(s.try_into().unwrap()));
    let u32_at = |o: usize| b.get(o..o + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap()));
    let event_len = u32_at(0)? as usize;
    let metadata_len = usize::from(u16_at(6)?);
    if event_len < METADATA_LEN
        || event_len > b.len()
        || metadata_len < METADATA_LEN
        || metadata_len > event_len
    {
        return None;
    }
    let mut ev = FanEvent {
        mask: u64::from_ne_bytes(b.get(8..16)?.try_into().ok()?),
        pid: i32::from_ne_bytes(b.get(20..24)?.try_into().ok()?),
        ..FanEvent::default()
    };
    let mut i = metadata_len;
    while i + 4 <= event_len {
        let info_type = b[i];
        let len = usize::from(u16_at(i + 2)?);
        if len < 4 || i + len > event_len {
            return None;
        }
        let rec = &b[i..i + len];
        // header (4), fsid (8), then struct file_handle: handle_bytes, handle_type, f_handle.
        let handle_bytes =
            rec.get(12..16).map(|s| u32::from_ne_bytes(s.try_into().unwrap()) as usize)?;
        let handle_end = 20usize.checked_add(handle_bytes)?;
        let handle = rec.get(16..handle_end)?.to_vec();
        match info_type {
            INFO_FID => ev.object = Some(handle),
            INFO_DFID => ev.dir = Some(handle),
            INFO_DFID_NAME => {
                let name = rec.get(handle_end..)?;
                let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                ev.dir = Some(handle);
                ev.name = Some(name[..end].to_vec());
            }
            _ => {}
        }
        i += len;
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(info_type: u8, handle: &[u8], name: Option<&[u8]>) -> Vec<u8> {
        let mut r = vec![info_type, 0, 0, 0];
        r.extend_from_slice(&[7; 8]); // fsid
        r.extend_from_slice(&((handle.len() - 4) as u32).to_ne_bytes());
        r.extend_from_slice(handle); // handle_type (4 bytes) + f_handle
        if let Some(n) = name {
            r.extend_from_slice(n);
            r.push(0);
        }
        while r.len() % 4 != 0 {
            r.push(0);
        }
        let len = r.len() as u16;
        r[2..4].copy_from_slice(&len.to_ne_bytes());
        r
    }

    fn event(mask: u64, pid: i32, records: &[Vec<u8>]) -> Vec<u8> {
        let mut e = Vec::new();
        let len = METADATA_LEN + records.iter().map(Vec::len).sum::<usize>();
        e.extend_from_slice(&(len as u32).to_ne_bytes());
        e.extend_from_slice(&[3, 0]);
        e.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        e.extend_from_slice(&mask.to_ne_bytes());
        e.extend_from_slice(&(-1i32).to_ne_bytes()); // FAN_NOFD
        e.extend_from_slice(&pid.to_ne_bytes());
        for r in records {
            e.extend_from_slice(r);
        }
        e
    }

    #[test]
    fn parses_entry_and_attrib_events() {
        let dir = [1, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22];
        let obj = [1, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        let mut buf = event(FAN_DELETE, 42, &[record(INFO_DFID_NAME, &dir, Some(b"docker.sock"))]);
        buf.extend(event(
            FAN_ATTRIB,
            43,
            &[record(INFO_DFID_NAME, &dir, Some(b"docker.sock")), record(INFO_FID, &obj, None)],
        ));
        let (evs, bad) = parse(&buf);
        assert!(!bad);
        assert_eq!(evs.len(), 2);
        assert_eq!((evs[0].mask, evs[0].pid), (FAN_DELETE, 42));
        assert_eq!(evs[0].dir.as_deref(), Some(&dir[..]));
        assert_eq!(evs[0].name.as_deref(), Some(&b"docker.sock"[..]));
        assert_eq!(evs[1].object.as_deref(), Some(&obj[..]));
    }

    #[test]
    fn malformed_lengths_stop_the_parse_without_panicking() {
        let dir = [1, 0, 0, 0, 9, 9, 9, 9];
        let good = event(FAN_CREATE, 1, &[record(INFO_DFID_NAME, &dir, Some(b"x"))]);
        for cut in 0..good.len() {
            let (evs, bad) = parse(&good[..cut]);
            assert!(evs.is_empty() && (bad || cut == 0), "cut at {cut}");
        }
        let mut lying = good.clone();
        lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse(&lying).1);
        let mut short = good.clone();
        short[METADATA_LEN + 2..METADATA_LEN + 4].copy_from_slice(&2u16.to_ne_bytes());
        assert!(parse(&short).1);
        let mut huge_handle = good;
        huge_handle[METADATA_LEN + 12..METADATA_LEN + 16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse(&huge_handle).1);
    }
}
