// Settings of a GoAssist Live Link source, shown in the Live Link panel's details view.
#pragma once

#include "CoreMinimal.h"
#include "LiveLinkSourceSettings.h"
#include "GoAssistLiveLinkSourceSettings.generated.h"

UCLASS()
class GOASSISTLIVELINK_API UGoAssistLiveLinkSourceSettings : public ULiveLinkSourceSettings
{
	GENERATED_BODY()

public:
	/** UDP port the render-bridge's native stream arrives on (BRIDGE_PLUGIN_ADDR's port). Applied when the source is created. */
	UPROPERTY(EditAnywhere, Category = "GoAssist", meta = (ClampMin = 1, ClampMax = 65535))
	int32 ListenPort = 11113;

	/** Subject name per stream; {avatar} and {session} (hex) are replaced. Match BRIDGE_SUBJECT_PATTERN. */
	UPROPERTY(EditAnywhere, Category = "GoAssist")
	FString SubjectPattern = TEXT("GoAssist_{avatar}");

	/** Silence after which a subject starts easing to neutral (seconds). */
	UPROPERTY(EditAnywhere, Category = "GoAssist", meta = (ClampMin = 0.01, ClampMax = 10.0))
	float StallSeconds = 0.25f;

	/** Time to ease a silent subject to neutral (seconds; 0 snaps). */
	UPROPERTY(EditAnywhere, Category = "GoAssist", meta = (ClampMin = 0.0, ClampMax = 10.0))
	float SlowFreezeSeconds = 0.3f;

	/** Push the audio that arrives with the frames into Pixel Streaming 2, so viewers hear the voice in the same stream as the video. */
	UPROPERTY(EditAnywhere, Category = "GoAssist")
	bool bFeedPixelStreamingAudio = false;
};
