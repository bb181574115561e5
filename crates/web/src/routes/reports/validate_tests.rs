use super::*;

#[test]
fn won_amounts_are_whole_non_negative_and_capped() {
    assert_eq!(krw("1200000"), Ok(1_200_000));
    assert_eq!(krw(" 1,200,000원 "), Ok(1_200_000));
    assert_eq!(krw("₩ 3 500"), Ok(3_500));
    assert_eq!(krw("0"), Ok(0));
    assert_eq!(krw(""), Err(Problem::Required));
    assert_eq!(krw("-5000"), Err(Problem::Negative));
    assert_eq!(krw("12.5"), Err(Problem::NotANumber));
    assert_eq!(krw("백만원"), Err(Problem::NotANumber));
    assert_eq!(krw("1e6"), Err(Problem::NotANumber));
    assert_eq!(krw("10000000000"), Ok(MAX_LOSS_KRW));
    assert_eq!(krw("10000000001"), Err(Problem::TooLarge(MAX_LOSS_KRW)));
    assert_eq!(
        krw("99999999999999999999999"),
        Err(Problem::TooLarge(MAX_LOSS_KRW))
    );
    assert_eq!(optional_count("", 10), Ok(None));
    assert_eq!(optional_count("7", 10), Ok(Some(7)));
    assert_eq!(optional_count("11", 10), Err(Problem::TooLarge(10)));
    assert_eq!(optional_count("-1", 10), Err(Problem::Negative));
}

#[test]
fn registration_numbers_need_ten_digits_and_the_official_check_digit() {
    assert_eq!(brn("220-81-62517").as_deref(), Ok("220-81-62517"));
    assert_eq!(brn("1208147521").as_deref(), Ok("120-81-47521"));
    assert_eq!(brn("123-45-67890"), Err(Problem::BrnChecksum));
    assert_eq!(
        brn("123-45-67891").as_deref(),
        Ok("123-45-67891"),
        "the form's placeholder and the example in the message pass"
    );
    assert_eq!(brn("220-81-6251"), Err(Problem::BrnFormat));
    assert_eq!(brn("22-081-62517"), Err(Problem::BrnFormat));
    assert_eq!(brn("220-81-6251A"), Err(Problem::BrnFormat));
    assert_eq!(
        brn("２２０-８１-６２５１７"),
        Err(Problem::BrnFormat),
        "full-width digits are not ASCII digits"
    );
    assert_eq!(brn(""), Err(Problem::Required));
    // Every last digit but one is wrong.
    let valid = (0..10)
        .filter(|d| brn(&format!("220816251{d}")).is_ok())
        .count();
    assert_eq!(valid, 1);
}

#[test]
fn text_is_trimmed_and_counted_in_characters() {
    assert_eq!(text("  가나다  ", 3, true).as_deref(), Ok("가나다"));
    assert_eq!(text("가나다라", 3, true), Err(Problem::TooLong(3)));
    assert_eq!(text("   ", 3, true), Err(Problem::Required));
    assert_eq!(text("", 3, false).as_deref(), Ok(""));
    assert_eq!(text("a\r\nb\u{0}", 10, false).as_deref(), Ok("a\nb"));
}

#[test]
fn fixed_lists_accept_only_their_codes() {
    assert_eq!(
        one_of("서울특별시", SIDO.iter().map(|c| c.code)).as_deref(),
        Ok("서울특별시")
    );
    assert_eq!(
        one_of("서울", SIDO.iter().map(|c| c.code)),
        Err(Problem::Unknown)
    );
    assert_eq!(
        one_of("", SIDO.iter().map(|c| c.code)),
        Err(Problem::Required)
    );
    let allowed = ["kakao-talk", "kakao-pay"];
    assert_eq!(
        some_of(
            &["kakao-pay".into(), "kakao-talk".into(), "kakao-pay".into()],
            &allowed
        ),
        Ok(vec!["kakao-talk".into(), "kakao-pay".into()])
    );
    assert_eq!(some_of(&[], &allowed), Err(Problem::NoneChosen));
    assert_eq!(some_of(&["naver".into()], &allowed), Err(Problem::Unknown));
}

#[test]
fn the_loss_helper_prorates_daily_sales_over_opening_hours() {
    assert_eq!(estimate_loss(1_200_000, 3.0, 12.0), 300_000);
    assert_eq!(estimate_loss(1_000_000, 2.5, 10.0), 250_000);
    assert_eq!(estimate_loss(1_000_000, 2.0, 0.0), 0);
    assert_eq!(
        estimate_loss(MAX_LOSS_KRW, MAX_HOURS_DOWN, 1.0),
        MAX_LOSS_KRW
    );
    assert_eq!(hours("2,5", 24.0), Ok(2.5));
    assert_eq!(hours("-1", 24.0), Err(Problem::Negative));
    assert_eq!(hours("NaN", 24.0), Err(Problem::NotANumber));
    assert_eq!(hours("25", 24.0), Err(Problem::TooLarge(24)));
    assert_eq!(group_digits(1_234_567), "1,234,567");
    assert_eq!(group_digits(999), "999");
}

fn raw() -> RawReport {
    RawReport {
        incident: "7".into(),
        business_name: "먹통분식".into(),
        brn: "220-81-62517".into(),
        contact: "010-1234-5678".into(),
        region_sido: "서울특별시".into(),
        region_sigungu: "마포구".into(),
        trade: "restaurant".into(),
        services: vec!["kakao-talk".into()],
        kinds: vec!["lost_orders".into(), "failed_payments".into()],
        estimated_loss: "1,200,000".into(),
        lost_orders: "35".into(),
        description: "주문이 안 들어왔어요".into(),
        association: "3".into(),
        consent: true,
        ..RawReport::default()
    }
}

#[test]
fn sales_in_two_periods_give_the_loss_and_usage_is_kept_for_chosen_services() {
    let ctx = Context {
        services: &["kakao-talk", "kakao-pay"],
        associations: &[3],
    };
    let r = RawReport {
        sales_outage: "400,000".into(),
        sales_comparable: "1,000,000원".into(),
        estimated_loss: String::new(),
        usage: vec![
            ("kakao-talk".into(), "paid".into()),
            ("kakao-pay".into(), "free".into()),
            ("kakao-talk".into(), "bogus".into()),
        ],
        substitute: "partly".into(),
        ..raw()
    };
    let v = validate(&r, &ctx).expect("valid");
    assert_eq!(
        v.estimated_loss_krw, 600_000,
        "comparable minus outage period"
    );
    assert_eq!(
        v.usage.into_iter().collect::<Vec<_>>(),
        vec![("kakao-talk".to_string(), "paid".to_string())],
        "only chosen services, only known values"
    );
    assert_eq!(v.substitute.as_deref(), Some("partly"));
    let bad = RawReport {
        sales_outage: "many".into(),
        substitute: "maybe".into(),
        estimated_loss: String::new(),
        ..raw()
    };
    let fields: Vec<&str> = validate(&bad, &ctx)
        .expect_err("invalid")
        .iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, vec!["sales_outage", "estimated_loss", "substitute"]);
}

#[test]
fn a_good_report_parses_and_a_bad_one_lists_every_problem() {
    let ctx = Context {
        services: &["kakao-talk", "kakao-pay"],
        associations: &[3],
    };
    let v = validate(&raw(), &ctx).expect("valid");
    assert_eq!(v.estimated_loss_krw, 1_200_000);
    assert_eq!(v.lost_orders, Some(35));
    assert_eq!(v.region_sigungu.as_deref(), Some("마포구"));
    let bad = RawReport {
        brn: "123-45-67890".into(),
        estimated_loss: "-1".into(),
        description: "가".repeat(MAX_DESCRIPTION + 1),
        association: "4".into(),
        consent: false,
        services: vec![],
        ..raw()
    };
    let errors = validate(&bad, &ctx).expect_err("invalid");
    let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "association",
            "brn",
            "services",
            "estimated_loss",
            "description",
            "consent"
        ]
    );
    assert!(errors.iter().all(
        |e| !e.problem.message(Lang::Ko).is_empty() && !e.problem.message(Lang::En).is_empty()
    ));
}
