//! Tests of `rust/simnic/hw/irq_line.rs`: the mask/latch rules one step at a
//! time. The race of the hardware against the driver's poll, which uses
//! this line, is in `napi_irq_tests.rs`.

use crate::hw::irq_line::{HwEvent, IrqLine};

#[test]
fn raises_when_unmasked_and_latches_nothing() {
    let l = IrqLine::new();
    assert!(!l.is_masked());
    assert_eq!(l.hw_event(), HwEvent::Raised);
    assert_eq!(l.hw_event(), HwEvent::Raised);
    assert!(!l.is_masked());
    // A raised interrupt is not also latched: masking and unmasking now
    // reports nothing due.
    assert!(!l.mask());
    assert!(!l.unmask());
    assert!(!l.is_masked());
}

#[test]
fn suppressed_while_masked_and_reported_by_unmask() {
    let l = IrqLine::default();
    assert!(!l.mask(), "was unmasked");
    assert!(l.is_masked());
    assert!(l.mask(), "already masked: doubled interrupt");
    assert!(l.is_masked());
    assert_eq!(l.hw_event(), HwEvent::Suppressed);
    assert_eq!(l.hw_event(), HwEvent::Suppressed);
    // Still masked after events.
    assert!(l.is_masked());
    // Masking again keeps the latch.
    assert!(l.mask());
    assert!(l.unmask(), "latched event makes an interrupt due");
    assert!(!l.is_masked());
    // The latch is cleared by the unmask that reported it.
    assert!(!l.unmask());
    assert_eq!(l.hw_event(), HwEvent::Raised);
}

#[test]
fn unmask_without_events_reports_nothing() {
    let l = IrqLine::new();
    for _ in 0..3 {
        assert!(!l.mask());
        assert!(!l.unmask());
    }
    // Unmasking an unmasked line is harmless.
    assert!(!l.unmask());
    assert!(!l.is_masked());
    // A latch from one masked period does not leak into the next.
    l.mask();
    l.hw_event();
    assert!(l.unmask());
    l.mask();
    assert!(!l.unmask());
}
