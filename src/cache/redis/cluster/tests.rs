use redis::Value;

use super::{slot, SlotMap, SLOTS};

#[test]
fn slots_follow_the_cluster_specification() {
    // CRC16/XMODEM's check value is 0x31C3.
    assert_eq!(slot(b"123456789"), 0x31C3);
    // `CLUSTER KEYSLOT` examples in the Redis documentation.
    assert_eq!(slot(b"somekey"), 11058);
    assert_eq!(slot(b"foo{hash_tag}"), 2515);
    // Hash tags: the first `{`…`}` with something inside decides.
    assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
    assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
    assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
    assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"), "an empty tag hashes the whole key");
    assert!(slot(&[0xff; 28]) < SLOTS);
}

fn node(host: &str, port: i64) -> Value {
    Value::Array(vec![Value::BulkString(host.as_bytes().to_vec()), Value::Int(port), Value::BulkString(b"id".to_vec())])
}

fn range(start: i64, end: i64, primary: Value) -> Value {
    Value::Array(vec![Value::Int(start), Value::Int(end), primary, node("10.0.0.9", 7009)])
}

#[test]
fn the_slot_map_is_read_from_cluster_slots() {
    let reply = Value::Array(vec![
        range(0, 5460, node("10.0.0.1", 7000)),
        range(5461, 10922, node("", 7001)),
        range(10923, 12000, node("10.0.0.1", 7000)),
        range(12001, 16383, node("?", 7002)),
    ]);
    let map = SlotMap::parse(&reply, "10.0.0.2").unwrap();
    let owner = |slot| map.owner(slot).cloned();
    let first = Some(("10.0.0.1".to_string(), 7000));
    assert_eq!(owner(0), first);
    assert_eq!(owner(5460), first);
    assert_eq!(owner(5461), Some(("10.0.0.2".to_string(), 7001)), "an empty host is the node that answered");
    assert_eq!(owner(10923), first);
    assert_eq!(owner(12001), None, "a node of unknown address serves nothing");
    assert_eq!(owner(SLOTS), None);
    assert_eq!(map.primaries.len(), 2, "replicas are not primaries");
}

#[test]
fn a_reply_of_another_shape_is_refused() {
    assert!(SlotMap::parse(&Value::Okay, "h").is_none());
    assert!(SlotMap::parse(&Value::Array(vec![Value::Int(1)]), "h").is_none());
    let short = Value::Array(vec![Value::Array(vec![Value::Int(0), Value::Int(10)])]);
    assert!(SlotMap::parse(&short, "h").is_none());
    assert_eq!(SlotMap::parse(&Value::Array(vec![]), "h").unwrap().owner(0), None);
}
