use cqrs_es::test::TestFramework;
use joule_store::Decided;

use super::*;
use crate::domain::fixtures::{account, at, created_once};

type Given = TestFramework<Decided<CostCentre>>;

fn code() -> Code {
    "4711-SALES".parse().unwrap()
}

fn id() -> CostCentreId {
    cost_centre_id(&"acme".parse().unwrap(), "k", account(), &code())
}

fn created() -> CostCentreEvent {
    CostCentreEvent::CostCentreCreated {
        cost_centre_id: id(),
        account_id: account(),
        code: code(),
        name: "Sales".parse().unwrap(),
        created_at: at(),
    }
}

#[test]
fn a_code_is_created_once_per_account() {
    let create = CostCentreCommand::Create {
        cost_centre_id: id(),
        account_id: account(),
        code: code(),
        name: "Sales".parse().unwrap(),
        at: at(),
    };
    created_once::<CostCentre>(create, created())
        .then_expect_error_message("cost centre 4711-SALES exists already for this account");
}

#[test]
fn ids_depend_on_the_tenant_key_the_account_and_the_code() {
    let tenant = "acme".parse().unwrap();
    let other: Code = "4712".parse().unwrap();
    assert_ne!(
        id(),
        cost_centre_id(&tenant, "other key", account(), &code())
    );
    assert_ne!(
        id(),
        cost_centre_id(&tenant, "k", AccountId::new(), &code())
    );
    assert_ne!(id(), cost_centre_id(&tenant, "k", account(), &other));
}

#[test]
fn a_rename_records_every_value() {
    let rename = CostCentreCommand::Change {
        name: Some("Sales & Marketing".parse().unwrap()),
        status: None,
        at: at(),
    };
    Given::with(())
        .given(vec![created()])
        .when(rename)
        .then_expect_events(vec![CostCentreEvent::CostCentreChanged {
            cost_centre_id: id(),
            name: "Sales & Marketing".parse().unwrap(),
            status: Status::Active,
            changed_at: at(),
        }]);
}
