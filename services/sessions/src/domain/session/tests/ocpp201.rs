//! OCPP 2.0.1 transactions: events in any order, gaps completed when overdue, fallbacks for
//! missing registers, a second end.

use super::*;

#[test]
fn a_201_transaction_converges_whatever_the_order_of_its_events() {
    let in_order = run(transaction_201());
    let (energy, f, token) = completion_of(&in_order);
    assert_eq!(energy, Energy::from_wh(dec!(12500)));
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(token.unwrap().account_id, "acc");
    // Every permutation of the four events, with each delivered twice.
    let commands = transaction_201();
    let mut orders = vec![];
    permutations(&mut (0..commands.len()).collect(), 0, &mut orders);
    for order in orders {
        let sequence = order
            .iter()
            .chain(order.iter())
            .map(|&i| commands[i].clone());
        let events = run(sequence);
        let completions = events
            .iter()
            .filter(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
            .count();
        assert_eq!(completions, 1, "{order:?}");
        let at = events
            .iter()
            .position(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
            .unwrap();
        assert_eq!(
            completion_of(&events[..=at]),
            completion_of(&in_order),
            "{order:?}"
        );
    }
}

fn permutations(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
    if k == items.len() {
        out.push(items.clone());
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permutations(items, k + 1, out);
        items.swap(k, i);
    }
}

#[test]
fn ended_first_waits_and_a_gap_completes_when_overdue() {
    let commands = transaction_201();
    // Ended first: nothing completes.
    let events = run([commands[3].clone()]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
    );
    // Started and Ended, seq 1 and 2 lost: the sweeper completes it, flagged.
    let events = run([
        commands[3].clone(),
        commands[0].clone(),
        SessionCommand::CompleteOverdue,
    ]);
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::from_wh(dec!(12500)));
    assert!(f.contains(&flags::SEQUENCE_GAP.to_string()), "{f:?}");
    let gap = events
        .iter()
        .find_map(|e| match e {
            SessionEvent::SessionFlagged { flag, detail } if flag == flags::SEQUENCE_GAP => {
                Some(detail.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(gap, "completed without seqNo 1, 2");
    // A late event after completion is flagged, not applied.
    let late = run([
        commands[3].clone(),
        commands[0].clone(),
        SessionCommand::CompleteOverdue,
        commands[1].clone(),
    ]);
    assert!(matches!(
        late.last(),
        Some(SessionEvent::SessionFlagged { flag, .. }) if flag == flags::EVENT_AFTER_END
    ));
}

#[test]
fn missing_begin_and_end_registers_fall_back_to_readings() {
    let mut commands = transaction_201();
    if let SessionCommand::Start(s, _) = &mut commands[0] {
        s.meter_start = None;
    }
    if let SessionCommand::Stop(s, _) = &mut commands[3] {
        s.meter_stop = None;
    }
    let events = run(commands);
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::from_wh(dec!(4000)), "9000 - 5000");
    assert_eq!(f, [flags::NO_METER_START, flags::NO_METER_STOP]);
}

#[test]
fn a_second_ended_event_is_flagged_not_applied() {
    let commands = transaction_201();
    let mut second = commands[3].clone();
    if let SessionCommand::Stop(s, _) = &mut second {
        s.seq_no = Some(9);
    }
    let events = run([commands[0].clone(), commands[3].clone(), second]);
    assert!(matches!(
        events.last(),
        Some(SessionEvent::SessionFlagged { flag, .. }) if flag == flags::DUPLICATE_END
    ));
}
