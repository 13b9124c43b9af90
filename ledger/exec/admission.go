package exec

import pb "github.com/govnode/govnode/proto/govnode/v1"

// AffectsAdmission reports whether executing body may change the verdict
// of CheckTx on other transactions: it touches what CheckTx reads besides
// the signer's nonce (identity status and keys, roles, department
// membership, chain parameters). A mempool rechecks its pending txs after a
// block holding such a tx; after other blocks it only tracks nonces.
// Actions not listed as harmless count as affecting admission, so a new
// action is safe by default. CheckTx's content pre-check also reads record
// types, which only governance changes, records, and the protected
// commitments' index: a CreateRecord or AmendRecord stays harmless, since
// an amendment admitted before its record was committed is still checked
// when it executes, and so is a pending version naming a commitment another
// record has claimed since (the block refuses it, and a refused version
// names no payload). The pre-check of RecordAccesses and
// EraseRecordContent (precheckPersonal) reads records, identities and
// grants: an EraseRecordContent affects admission (it makes pending
// erasures, amendments and accesses of its record fail); a grant's
// revocation or expiry, or a transfer, is left to the block, which judges
// every access again; a RecordAccesses only appends access entries.
// The tender pre-check (precheckTender) reads tenders: a SubmitBid or a
// RevealBid is harmless (no other bidder's check reads its bid; a reveal
// admitted while its bidder had earlier txs pending, unchecked against
// the bid, is judged by the block; deadlines and the winner are checked
// only once the last block's time has closed bids or reveals), a
// PublishTender or an AwardTender affects admission (a tender created or
// decided).
func AffectsAdmission(body *pb.TxBody) bool {
	switch body.GetAction().(type) {
	case *pb.TxBody_RegisterSubject, *pb.TxBody_IssueCredential, *pb.TxBody_RevokeCredential,
		*pb.TxBody_CreateRecord, *pb.TxBody_AmendRecord, *pb.TxBody_ConsentTransfer, *pb.TxBody_TransferRecord,
		*pb.TxBody_RevokeRecord, *pb.TxBody_AccessRecord, *pb.TxBody_GrantAccess, *pb.TxBody_RevokeGrant,
		*pb.TxBody_RecordAccesses,
		*pb.TxBody_CreateContract, *pb.TxBody_SignContract, *pb.TxBody_SubmitMilestone, *pb.TxBody_AcceptMilestone,
		*pb.TxBody_FireTransition, *pb.TxBody_SubmitBid, *pb.TxBody_RevealBid:
		return false
	}
	return true
}
