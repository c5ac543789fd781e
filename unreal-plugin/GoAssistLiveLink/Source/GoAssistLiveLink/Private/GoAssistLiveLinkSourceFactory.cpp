#include "GoAssistLiveLinkSourceFactory.h"

#include "GoAssistLiveLinkSource.h"
#include "Misc/Parse.h"

#define LOCTEXT_NAMESPACE "GoAssistLiveLink"

FText UGoAssistLiveLinkSourceFactory::GetSourceDisplayName() const
{
	return LOCTEXT("DisplayName", "GoAssist Render Bridge");
}

FText UGoAssistLiveLinkSourceFactory::GetSourceTooltip() const
{
	return LOCTEXT("Tooltip", "Receives GoAssist face frames (and voice audio) from the render-bridge's native stream.");
}

TSharedPtr<ILiveLinkSource> UGoAssistLiveLinkSourceFactory::CreateSource(const FString& ConnectionString) const
{
	int32 Port = 11113;
	FString Pattern = TEXT("GoAssist_{avatar}");
	const bool bPortGiven = FParse::Value(*ConnectionString, TEXT("Port="), Port);
	FParse::Value(*ConnectionString, TEXT("Pattern="), Pattern);
	if (Port < 1 || Port > 65535)
	{
		Port = 11113;
	}
	return MakeShared<FGoAssistLiveLinkSource>(Port, Pattern, bPortGiven);
}

#undef LOCTEXT_NAMESPACE
