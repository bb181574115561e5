//! The sign-in brake counts failures only: a shop owner who signs in many times a day (a
//! shared tablet, several staff phones) is never locked out by their own successes, while
//! guessing still stops. Over real HTTP against one app; the budgets are per process, so this
//! file holds one test.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, app};
use reqwest::StatusCode;

const EMAIL: &str = "busy@example.com";
const PASSWORD: &str = "correct horse battery";

async fn login<'a>(c: &Client<'a>, password: &str) -> StatusCode {
    c.submit(
        "/login",
        "/login",
        &[("email", EMAIL), ("password", password)],
    )
    .await
    .status
}

#[tokio::test]
async fn successful_sign_ins_never_spend_the_budget_and_failures_still_do() {
    let app = app().await;
    let owner = Client::new(&app);
    owner.sign_up("바쁜 가게", "010-4100-0001", EMAIL).await;

    // 40 successful sign-ins from new devices at one address: more than the address's 30
    // failures and the account's 5; every one gets in.
    for i in 0..40 {
        let fresh = Client::new(&app);
        assert_eq!(
            login(&fresh, PASSWORD).await,
            StatusCode::SEE_OTHER,
            "sign-in {i}"
        );
    }
    // The owner's own device signs in too (and is remembered as a known device).
    assert_eq!(login(&owner, PASSWORD).await, StatusCode::SEE_OTHER);

    // A stranger guessing: 5 wrong passwords are answered, then the brake holds, even for
    // the right one from an unknown device.
    let stranger = Client::new(&app);
    for i in 0..5 {
        assert_eq!(
            login(&stranger, "guess guess guess").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "guess {i}"
        );
    }
    assert_eq!(
        login(&stranger, "guess guess guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&Client::new(&app), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "unknown devices wait"
    );
    // The owner's known device has its own budget: the stranger did not lock it out.
    let page = owner
        .submit(
            "/login",
            "/login",
            &[("email", EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}
