// Blueprint-visible status of the GoAssist Live Link sources: connected, last frame age.
#pragma once

#include "CoreMinimal.h"
#include "Kismet/BlueprintFunctionLibrary.h"
#include <atomic>
#include "GoAssistLiveLinkStatus.generated.h"

/** Process-wide counters the receive threads update (atomics; read from any thread). */
struct GOASSISTLIVELINK_API FGoAssistLiveLinkStatusCounters
{
	static FGoAssistLiveLinkStatusCounters& Get();

	std::atomic<double> LastFrameSeconds{0.0};   // FPlatformTime::Seconds() of the last accepted frame
	std::atomic<int64> FramesAccepted{0};
	std::atomic<int64> FramesStale{0};            // old epoch or out of order
	std::atomic<int64> PacketsMalformed{0};
	std::atomic<int32> ActiveSubjects{0};
};

UCLASS()
class GOASSISTLIVELINK_API UGoAssistLiveLinkStatusLibrary : public UBlueprintFunctionLibrary
{
	GENERATED_BODY()

public:
	/** True when a frame arrived within the last second. */
	UFUNCTION(BlueprintPure, Category = "GoAssist|Live Link")
	static bool IsGoAssistConnected();

	/** Seconds since the last accepted frame (a large number before the first). */
	UFUNCTION(BlueprintPure, Category = "GoAssist|Live Link")
	static float GetGoAssistLastFrameAgeSeconds();

	/** Frames accepted since start. */
	UFUNCTION(BlueprintPure, Category = "GoAssist|Live Link")
	static int64 GetGoAssistFramesAccepted();

	/** Datagrams that failed to decode since start. */
	UFUNCTION(BlueprintPure, Category = "GoAssist|Live Link")
	static int64 GetGoAssistMalformedPackets();

	/** Subjects currently live or easing to neutral. */
	UFUNCTION(BlueprintPure, Category = "GoAssist|Live Link")
	static int32 GetGoAssistActiveSubjects();
};
