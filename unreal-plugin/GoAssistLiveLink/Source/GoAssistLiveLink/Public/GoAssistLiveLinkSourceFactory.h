// Adds "GoAssist Render Bridge" to the Live Link panel's source menu.
#pragma once

#include "CoreMinimal.h"
#include "LiveLinkSourceFactory.h"
#include "GoAssistLiveLinkSourceFactory.generated.h"

UCLASS()
class GOASSISTLIVELINK_API UGoAssistLiveLinkSourceFactory : public ULiveLinkSourceFactory
{
	GENERATED_BODY()

public:
	virtual FText GetSourceDisplayName() const override;
	virtual FText GetSourceTooltip() const override;
	virtual EMenuType GetMenuType() const override { return EMenuType::MenuEntry; }
	/** ConnectionString: "Port=11113 Pattern=GoAssist_{avatar}" (both optional). */
	virtual TSharedPtr<ILiveLinkSource> CreateSource(const FString& ConnectionString) const override;
};
