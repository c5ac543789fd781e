//! The parsed values of one reading of the environment, handed to a binary's typed builder.

use crate::kinds::Value;

/// What `--check-config` shows for an optional variable nobody set.
pub(crate) const UNSET: &str = "(unset)";

/// One variable's outcome.
pub(crate) struct Slot {
    pub(crate) name: &'static str,
    /// `None` when unset (and optional), not read, or invalid.
    pub(crate) value: Option<Value>,
    /// What `--check-config` prints: the value as given, the default, `(unset)`, or
    /// `<redacted>` for a secret.
    pub(crate) shown: String,
}

/// Every variable of a table, parsed, in table order.
///
/// A binary's builder reads them by name with the type the variable's kind produces:
/// `api_port: values.get("API_PORT")`. A name that is not in the table, or a type that is not
/// the kind's, is a bug in the table and panics with a message saying so (every binary's
/// tests build its configuration, so such a bug never gets past them).
#[derive(Default)]
pub struct Values {
    pub(crate) slots: Vec<Slot>,
}

impl Values {
    /// The value of a variable that has one (a default, or required and set).
    pub fn get<T: Clone + 'static>(&self, name: &str) -> T {
        self.opt(name)
            .unwrap_or_else(|| panic!("config table: {name} has no value (give it a default)"))
    }

    /// The value of an optional variable: `None` when unset.
    pub fn opt<T: Clone + 'static>(&self, name: &str) -> Option<T> {
        let slot = self.slot(name);
        slot.value.as_ref().map(|value| {
            value.downcast_ref::<T>().cloned().unwrap_or_else(|| {
                panic!(
                    "config table: {name} does not hold a {}",
                    std::any::type_name::<T>()
                )
            })
        })
    }

    /// True when an optional variable was given no value. Unlike `opt(..).is_none()`, a value
    /// given but invalid (already reported) counts as given, so a rule does not also say
    /// "set it".
    pub fn is_unset(&self, name: &str) -> bool {
        self.slot(name).shown == UNSET
    }

    /// `NAME`, value pairs as `--check-config` prints them (secrets `<redacted>`).
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        self.slots
            .iter()
            .map(|slot| (slot.name, slot.shown.clone()))
            .collect()
    }

    pub(crate) fn slot(&self, name: &str) -> &Slot {
        self.slots
            .iter()
            .find(|slot| slot.name == name)
            .unwrap_or_else(|| {
                panic!("config table: {name} is not in the table (or is read before its entry)")
            })
    }

    pub(crate) fn slot_mut(&mut self, name: &str) -> &mut Slot {
        self.slots
            .iter_mut()
            .find(|slot| slot.name == name)
            .unwrap_or_else(|| panic!("config table: {name} is not in the table"))
    }
}
