//! Threshold receipt signing between signer tasks: receipts signed by 2-of-3 and
//! 3-of-5 groups open as ordinary envelopes; rounds survive signers going down while
//! `t` remain and fail clearly when they do not; signers refuse what their policy
//! forbids; many rounds run at once.

use std::time::Duration;

use attn_bidder_sdk::threshold::{ReceiptSigner, SignerHandle, ThresholdSigner};
use attn_bidder_sdk::{Error, Result};
use attn_receipts::threshold::{self, KeyShare, ThresholdGroup, ThresholdParams};
use attn_receipts::{
    AdvertiserKey, CommitmentOpening, ConversionReceipt, PersonaKey, ReceiptKind, Signed,
    TrustStatement, verify_batch,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn group(t: u16, n: u16, seed: u64) -> (Vec<KeyShare>, ThresholdGroup) {
    let mut rng = StdRng::seed_from_u64(seed);
    threshold::deal(ThresholdParams::new(t, n).expect("params"), &mut rng).expect("deal")
}

fn receipt(issuer: attn_receipts::PublicKey, id: u8) -> ConversionReceipt {
    let mut rng = StdRng::seed_from_u64(u64::from(id));
    let opening = CommitmentOpening::random([id; 16], 2_500, &mut rng);
    ConversionReceipt {
        receipt_id: [id; 16],
        persona: PersonaKey::from_secret_bytes(&[7; 32]).public_key(),
        issuer,
        kind: ReceiptKind::Conversion,
        issued_at_ms: 1_700_000_000_000,
        categories: vec!["sports".into()],
        value_commitment: opening.commitment(),
        public_value: None,
        impression_hash: None,
    }
}

#[tokio::test]
async fn groups_2_of_3_and_3_of_5_sign_receipts_that_open_and_batch() -> Result<()> {
    let single = AdvertiserKey::from_secret_bytes(&[3; 32]);
    let mut batch = vec![
        ReceiptSigner::from(single.clone())
            .sign_receipt(&receipt(single.public_key(), 0))
            .await?,
    ];
    for (t, n, seed) in [(2, 3, 1), (3, 5, 2)] {
        let (shares, group) = group(t, n, seed);
        let signer = ReceiptSigner::from(ThresholdSigner::spawn(group.clone(), shares)?);
        assert_eq!(signer.public_key(), group.group_key());
        let receipt = receipt(group.group_key(), u8::try_from(n).expect("small"));
        let signed = signer.sign_receipt(&receipt).await?;
        assert_eq!(signed.open()?, receipt);
        batch.push(signed);
    }
    verify_batch(&batch)?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn rounds_go_on_while_t_signers_remain() -> Result<()> {
    let (shares, group) = group(3, 5, 3);
    let signer = ThresholdSigner::spawn(group.clone(), shares)?
        .with_round_timeout(Duration::from_millis(200));
    signer.signers()[0].shutdown();
    signer.signers()[3].shutdown();
    tokio::task::yield_now().await;
    let receipt = receipt(group.group_key(), 1);
    let signed = signer.sign_envelope(&receipt).await?;
    assert_eq!(signed.open()?, receipt);

    signer.signers()[4].shutdown();
    tokio::task::yield_now().await;
    let error = signer.sign_envelope(&receipt).await.unwrap_err();
    assert!(
        matches!(&error, Error::ThresholdSigning(reason) if reason.starts_with("2 of 3 signers answered")),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn signers_refuse_what_their_policy_forbids() -> Result<()> {
    let (shares, group) = group(2, 3, 4);
    let signer = ThresholdSigner::spawn(group.clone(), shares)?;
    // A trust statement in the group's name is not a receipt.
    let statement = TrustStatement {
        truster: group.group_key(),
        trustee: AdvertiserKey::from_secret_bytes(&[9; 32]).public_key(),
        weight_ppm: 1_000_000,
        issued_at_ms: 1,
    };
    let error = signer.sign_envelope(&statement).await.unwrap_err();
    assert!(
        matches!(&error, Error::ThresholdSigning(reason) if reason.contains("refused by policy")),
        "{error}"
    );
    // A receipt naming another issuer is refused before any round.
    let other = AdvertiserKey::from_secret_bytes(&[8; 32]).public_key();
    let error = ReceiptSigner::from(signer.clone())
        .sign_receipt(&receipt(other, 2))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        Error::Invalid(attn_receipts::Error::SignerMismatch { .. })
    ));
    // A receipt of the group passes the same policy.
    let good = receipt(group.group_key(), 3);
    assert_eq!(signer.sign_envelope(&good).await?.open()?, good);
    Ok(())
}

#[tokio::test]
async fn signers_of_another_group_or_too_few_are_refused() {
    let (shares, group_a) = group(2, 3, 5);
    let (other_shares, _) = group(2, 3, 6);
    assert!(matches!(
        ThresholdSigner::spawn(
            group_a.clone(),
            vec![shares[0].clone(), other_shares[1].clone()]
        ),
        Err(Error::Invalid(attn_receipts::Error::ThresholdMismatch(_)))
    ));
    assert!(matches!(
        ThresholdSigner::spawn(group_a.clone(), vec![shares[0].clone()]),
        Err(Error::Invalid(
            attn_receipts::Error::ThresholdTooFewShares { have: 1, need: 2 }
        ))
    ));
    let handle = SignerHandle::spawn(shares[1].clone());
    assert!(matches!(
        ThresholdSigner::new(group_a, vec![handle.clone(), handle]),
        Err(Error::Invalid(attn_receipts::Error::ThresholdMismatch(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rounds_all_verify() -> Result<()> {
    let (shares, group) = group(3, 5, 7);
    let signer = ThresholdSigner::spawn(group.clone(), shares)?;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..32u8 {
        let signer = signer.clone();
        let receipt = receipt(group.group_key(), id);
        tasks.spawn(async move { signer.sign_envelope(&receipt).await });
    }
    let mut signed: Vec<Signed<ConversionReceipt>> = Vec::new();
    while let Some(result) = tasks.join_next().await {
        signed.push(result.expect("task")?);
    }
    assert_eq!(signed.len(), 32);
    verify_batch(&signed)?;
    Ok(())
}
