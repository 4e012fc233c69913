//! The fast path for canonical records: each record type writes itself as JSON directly, without
//! going through serde, byte for byte what its serde derive makes through [`super::write_json`]
//! (and so serde_json's bytes).
//!
//! Through serde, every field costs a call that checks and quotes the key, tracks the comma and
//! dispatches on the value. Here the keys are known when compiling: each field's `,"key":` is one
//! pre-built byte string, written in the same capacity check as its value. Every field takes a
//! leading comma; the first one's comma becomes the object's `{` when the object is closed.
//!
//! The field lists below must follow `record.rs`: the same fields in the same order (their names
//! are the JSON keys: no field is renamed), each either always written (`keep`) or left out when
//! empty (`omit`: serde's `skip_serializing_if` with `Option::is_none`, `Vec::is_empty`,
//! `BTreeMap::is_empty` or the type's own `is_empty`). A struct pattern names every field, so a
//! field added to a record type does not compile until it is listed. The tests check the names and
//! order against serde's own field lists and the output against serde_json's.

use std::collections::BTreeMap;

use serde::Serialize;

use super::strings::{write_key, write_raw_after, write_str_after};
use super::{Json, JsonError};
use crate::canonical::decimal::Decimal;
use crate::canonical::record::{
    AckStatus, AckTransaction, Address, AdviceLine, AdviceTotals, Carrier, ElementError, Equipment,
    FunctionalAck, InterchangeAck, ItemIds, Kind, LineStatus, Location, Milestone, NoticeItem,
    NoticeOrder, NoticeTotals, OrderDates, OrderLine, OrderStatus, OrderTotals, Pack, Packaging,
    Party, PartyRole, Payload, Purpose, Record, References, SegmentError, ShipNotice,
    ShipmentAdvice, ShipmentStatus, Source, SourceFormat, StatusEvent, Text, WarehouseOrder,
};

/// A value that writes itself as the JSON its `Serialize` implementation makes.
pub(super) trait WriteJson {
    /// Appends the value.
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError>;

    /// Appends `key` (a field's `,"name":`, as it is) and the value.
    #[inline]
    fn write_field(&self, out: &mut Vec<u8>, key: &[u8]) -> Result<(), JsonError> {
        write_raw_after(out, key, b"");
        self.write(out)
    }
}

/// True when serde's `skip_serializing_if` leaves the field out (for `omit` fields).
trait Empty {
    fn is_empty_value(&self) -> bool;
}

impl<T> Empty for Option<T> {
    fn is_empty_value(&self) -> bool {
        self.is_none()
    }
}

impl<T> Empty for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> Empty for BTreeMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

/// Nested value objects left out by their own `is_empty`.
macro_rules! empty_by_is_empty {
    ($($t:ty),*) => {$(
        impl Empty for $t {
            fn is_empty_value(&self) -> bool {
                self.is_empty()
            }
        }
    )*};
}

empty_by_is_empty!(
    Address,
    ItemIds,
    Carrier,
    OrderDates,
    OrderTotals,
    AdviceTotals,
    Packaging,
    NoticeTotals,
    Location,
    Equipment
);

impl WriteJson for Text {
    #[inline]
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        write_str_after(out, b"", self);
        Ok(())
    }
    #[inline]
    fn write_field(&self, out: &mut Vec<u8>, key: &[u8]) -> Result<(), JsonError> {
        write_str_after(out, key, self);
        Ok(())
    }
}

impl WriteJson for String {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        write_str_after(out, b"", self);
        Ok(())
    }
}

impl WriteJson for Decimal {
    /// The normalised text as a raw JSON number, as its `Serialize` writes it.
    #[inline]
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        write_raw_after(out, b"", self.as_str().as_bytes());
        Ok(())
    }
    #[inline]
    fn write_field(&self, out: &mut Vec<u8>, key: &[u8]) -> Result<(), JsonError> {
        write_raw_after(out, key, self.as_str().as_bytes());
        Ok(())
    }
}

impl WriteJson for bool {
    #[inline]
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.write_field(out, b"")
    }
    #[inline]
    fn write_field(&self, out: &mut Vec<u8>, key: &[u8]) -> Result<(), JsonError> {
        write_raw_after(out, key, if *self { b"true" } else { b"false" });
        Ok(())
    }
}

impl WriteJson for u64 {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.write_field(out, b"")
    }
    fn write_field(&self, out: &mut Vec<u8>, key: &[u8]) -> Result<(), JsonError> {
        write_raw_after(out, key, itoa::Buffer::new().format(*self).as_bytes());
        Ok(())
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.write_field(out, b"")
    }
    #[inline]
    fn write_field(&self, out: &mut Vec<u8>, key: &[u8]) -> Result<(), JsonError> {
        match self {
            Some(value) => value.write_field(out, key),
            None => {
                write_raw_after(out, key, b"null");
                Ok(())
            }
        }
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        out.push(b'[');
        for (i, element) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            element.write(out)?;
        }
        out.push(b']');
        Ok(())
    }
}

impl WriteJson for BTreeMap<Text, Text> {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        out.push(b'{');
        for (i, (key, value)) in self.iter().enumerate() {
            write_key(out, i > 0, key);
            value.write(out)?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// Enums of names (`snake_case` unit variants) are few in a record: they go through their
/// `Serialize`, into the serde path's writer, so their names are serde's own.
macro_rules! through_serde {
    ($($t:ty),*) => {$(
        impl WriteJson for $t {
            fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
                self.serialize(Json(out))
            }
        }
    )*};
}

through_serde!(
    Kind,
    SourceFormat,
    PartyRole,
    OrderStatus,
    LineStatus,
    Purpose,
    Milestone,
    AckStatus
);

impl WriteJson for Payload {
    /// Untagged: the body alone.
    fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        match self {
            Payload::WarehouseOrder(p) => p.write(out),
            Payload::ShipmentAdvice(p) => p.write(out),
            Payload::ShipNotice(p) => p.write(out),
            Payload::ShipmentStatus(p) => p.write(out),
            Payload::FunctionalAck(p) => p.write(out),
            Payload::InterchangeAck(p) => p.write(out),
        }
    }
}

/// Closes an object whose fields were written from `start` on, each after a comma: the first
/// comma becomes the `{`; an object without fields is `{}`.
#[inline]
fn close_object(out: &mut Vec<u8>, start: usize) {
    match out.get_mut(start) {
        Some(first) => {
            *first = b'{';
            out.push(b'}');
        }
        None => out.extend_from_slice(b"{}"),
    }
}

/// The key names of a record type in order, for the tests.
#[cfg(test)]
pub(super) trait Keys {
    const KEYS: &'static [&'static str];
}

/// Writes one field: `keep` always, `omit` unless empty.
macro_rules! field {
    (keep, $out:ident, $value:ident) => {
        $value.write_field($out, concat!(",\"", stringify!($value), "\":").as_bytes())?;
    };
    (omit, $out:ident, $value:ident) => {
        if !Empty::is_empty_value($value) {
            field!(keep, $out, $value);
        }
    };
}

/// Implements [`WriteJson`] for record structs from their field lists.
macro_rules! objects {
    ($($name:ident { $($rule:ident $field:ident),* $(,)? })*) => {$(
        impl WriteJson for $name {
            fn write(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
                let $name { $($field),* } = self;
                let start = out.len();
                $(field!($rule, out, $field);)*
                close_object(out, start);
                Ok(())
            }
        }

        #[cfg(test)]
        impl Keys for $name {
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    )*};
}

objects! {
    Record {
        keep schema, keep kind, keep id, keep partner, keep test, keep source, keep references,
        keep payload, omit warnings,
    }
    Source {
        keep format, omit file, omit file_sha256, omit transaction_set, omit version, omit sender,
        omit receiver, omit gs_sender, omit gs_receiver, omit interchange_control,
        omit group_control, omit transaction_control, omit interchange_date, omit position,
    }
    References {
        omit order_number, omit purchase_order, omit shipment_id, omit bill_of_lading,
        omit pro_number, omit tracking_numbers, omit sscc, omit scac, omit load_number,
        omit appointment_number,
    }
    Party {
        keep role, omit code, omit name, omit id_qualifier, omit id, omit address,
    }
    Address {
        omit lines, omit city, omit state, omit postal_code, omit country,
    }
    ItemIds {
        omit upc, omit gtin, omit ean, omit vendor_item, omit buyer_item, omit sku, omit lot,
        omit serial, omit other,
    }
    Carrier {
        omit scac, omit transport_method, omit routing, omit payment_method,
    }
    WarehouseOrder {
        omit status, omit status_code, omit order_number, omit purchase_order, keep parties,
        omit references_extra, omit dates, omit carrier, keep lines, omit totals,
    }
    OrderDates {
        omit requested_ship, omit requested_delivery, omit ship_not_before, omit ship_no_later,
        omit deliver_not_before, omit deliver_no_later, omit other,
    }
    OrderLine {
        omit line_number, omit quantity, omit uom, omit item, omit description, omit lot,
    }
    OrderTotals {
        omit quantity, omit weight, omit weight_uom, omit volume, omit volume_uom,
    }
    ShipmentAdvice {
        omit reporting_code, omit order_number, omit shipped_on, omit shipment_id,
        omit agent_shipment_id, omit purchase_order, keep parties, omit references_extra,
        omit carrier, keep lines, keep short_shipped, omit totals,
    }
    AdviceLine {
        omit line_number, omit status, omit status_code, omit quantity_ordered,
        omit quantity_shipped, omit quantity_difference, omit uom, omit item, omit lot, omit sscc,
    }
    AdviceTotals {
        omit units_shipped, omit weight, omit weight_uom, omit volume, omit volume_uom,
        omit lading_quantity,
    }
    ShipNotice {
        omit purpose, omit purpose_code, omit shipment_id, omit issued_at, omit structure_code,
        omit shipped_at, omit estimated_delivery, omit carrier, omit packaging, keep parties,
        keep orders, omit totals,
    }
    Packaging {
        omit code, omit lading_quantity, omit weight, omit weight_uom,
    }
    NoticeOrder {
        omit purchase_order, omit order_date, keep packs, keep items,
    }
    Pack {
        omit sscc, omit tare_sscc, keep items,
    }
    NoticeItem {
        omit item, omit quantity_shipped, omit uom, omit quantity_ordered, omit description,
    }
    NoticeTotals {
        omit hl_count, omit hl_count_actual,
    }
    ShipmentStatus {
        omit carrier_reference, omit shipment_id, omit scac, omit references_extra, keep parties,
        keep events, omit milestone,
    }
    StatusEvent {
        omit status_code, omit reason_code, omit appointment_code, keep milestone, omit sub_status,
        omit exception_reason, keep is_estimate, omit date, omit time, omit time_code, omit at,
        omit location, omit equipment, omit weight, omit weight_uom, omit lading_quantity,
    }
    Location {
        omit city, omit state, omit country, omit latitude, omit longitude,
    }
    Equipment {
        omit scac, omit number,
    }
    FunctionalAck {
        omit functional_id, omit group_control, omit version, omit group_status,
        omit group_status_code, omit sets_included, omit sets_received, omit sets_accepted,
        keep group_errors, keep transactions,
    }
    AckTransaction {
        omit set_id, omit control, omit status, omit status_code, keep errors, keep segment_errors,
    }
    SegmentError {
        omit segment_id, omit position, omit loop_id, omit code, keep elements,
    }
    ElementError {
        omit position, omit component, omit element_ref, omit code, omit bad_value,
    }
    InterchangeAck {
        omit interchange_control, omit date, omit time, omit status, omit status_code,
        omit note_code,
    }
}
